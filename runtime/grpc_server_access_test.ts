import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { commandServiceDefinition, grpc } from "@catalog/proto";
import { createVerifier, developmentAuth, signDevelopmentToken } from "./auth.ts";
import { createCommandClient } from "./grpc_client.ts";
import { callerOf, startGrpcServer } from "./grpc_server.ts";

/** A command service that answers CreateCategory with the caller's subject as its type. */
async function withServer(fn: (address: string) => Promise<void>) {
  const server = await startGrpcServer({
    host: "127.0.0.1",
    port: 0,
    serviceName: "catalog.v1.CommandService",
    label: "the test service",
    definition: commandServiceDefinition(),
    implementation: {
      CreateCategory(
        call: grpc.ServerUnaryCall<unknown, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) {
        callback(null, {
          commandId: "00000000-0000-4000-8000-000000000001",
          type: callerOf(call)?.subject ?? "anonymous",
          aggregateId: "00000000-0000-4000-8000-000000000002",
          status: "ACCEPTED",
          acceptedAt: "2026-01-01T00:00:00.000Z",
        });
      },
    },
    access: { verify: createVerifier(developmentAuth), needs: () => "catalog:write" },
    reflectionRole: "catalog:admin",
  });
  try {
    await fn(`127.0.0.1:${server.port}`);
  } finally {
    await server.close();
  }
}

/** Lists the services by reflection; answers the status code the call ended with. */
function listServices(address: string, token?: string): Promise<{ code: number; bytes: number }> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  if (token) metadata.set("authorization", `Bearer ${token}`);
  return new Promise((resolve) => {
    let bytes = 0;
    const call = client.makeBidiStreamRequest(
      "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      (message: Buffer) => message,
      (message: Buffer) => message,
      metadata,
    );
    call.on("data", (message: Buffer) => {
      bytes += message.length;
      call.end();
    });
    call.on("error", (error: grpc.ServiceError) => {
      client.close();
      resolve({ code: error.code, bytes });
    });
    call.on("status", (status: grpc.StatusObject) => {
      client.close();
      resolve({ code: status.code, bytes });
    });
    // list_services: "" (field 7, a string).
    call.write(Buffer.from([0x3a, 0x00]));
  });
}

Deno.test("a guarded gRPC server names the caller to its handlers and refuses the rest", async () => {
  await withServer(async (address) => {
    const writer = await signDevelopmentToken({ subject: "alice", role: "catalog:write" });
    const reader = await signDevelopmentToken({ subject: "rita", role: "catalog:read" });
    const asWriter = createCommandClient(address, {
      metadata: { authorization: `Bearer ${writer}` },
    });
    const anonymous = createCommandClient(address);
    try {
      assert.equal((await asWriter.CreateCategory({ name: "x" })).type, "alice");
      const refused = await anonymous.CreateCategory({ name: "x" }).catch((error) => error);
      assert.equal(refused.code, grpc.status.UNAUTHENTICATED);
      const low = await anonymous.CreateCategory({ name: "x" }, {
        metadata: { authorization: `Bearer ${reader}` },
      }).catch((error) => error);
      assert.equal(low.code, grpc.status.PERMISSION_DENIED);
      assert.match(low.details, /needs the catalog:write role/);
    } finally {
      asWriter.close();
      anonymous.close();
    }
  });
});

Deno.test("reflection is served only to the role it needs", async () => {
  await withServer(async (address) => {
    const writer = await signDevelopmentToken({ subject: "alice", role: "catalog:write" });
    const admin = await signDevelopmentToken({ subject: "ops", role: "catalog:admin" });
    assert.equal((await listServices(address)).code, grpc.status.UNAUTHENTICATED);
    assert.equal((await listServices(address, writer)).code, grpc.status.PERMISSION_DENIED);
    const served = await listServices(address, admin);
    assert.equal(served.code, grpc.status.OK);
    assert.ok(served.bytes > 0, "expected the list of services");
  });
});
