/**
 * A gRPC load client in a process of its own:
 *
 *   deno run -A bench/_grpc_load.ts '<json options>'
 *
 * Runs closedLoop() against the query service (the gateway's calls for the
 * composite query, or GetProducts) or the echo baseline, prints the run as one
 * JSON line and exits at once, without closing its channel. Closing a grpc-js
 * channel after heavy load was seen to abort Deno (an nghttp2 assertion on
 * GOAWAY, in this process or in the server receiving it); a process that just
 * exits only drops its connection.
 */
import { Buffer } from "node:buffer";
import { grpc } from "@catalog/proto";
import { createQueryClient } from "@catalog/runtime";
import { echoDefinition } from "./_baseline_server.ts";
import { closedLoop } from "./_load.ts";

/** What the parent asks for. */
export interface GrpcLoadOptions {
  address: string;
  kind: "composite" | "product" | "echo";
  /** Product ids for "product"; the echo payload (a string) for "echo". */
  ids?: string[];
  payload?: string;
  concurrency: number;
  warmUpMs: number;
  durationMs: number;
}

async function main(options: GrpcLoadOptions): Promise<void> {
  let task: (index: number) => Promise<unknown>;
  if (options.kind === "echo") {
    const Client = grpc.makeGenericClientConstructor(
      echoDefinition as unknown as grpc.ServiceDefinition,
      "",
    );
    const client = new Client(options.address, grpc.credentials.createInsecure()) as
      & grpc.Client
      & Record<string, (r: Uint8Array, cb: (e: Error | null, res?: Uint8Array) => void) => void>;
    const payload = new Uint8Array(Buffer.from(options.payload ?? ""));
    task = () =>
      new Promise((resolve, reject) =>
        client.Echo!(payload, (error, response) => error ? reject(error) : resolve(response))
      );
  } else {
    const queries = createQueryClient(options.address);
    const ids = options.ids ?? [];
    task = options.kind === "product"
      ? (i) => queries.GetProducts({ ids: [ids[i % ids.length]!] })
      // The gateway's calls for the composite query: a product's category
      // (id and name) comes with its row.
      : () => Promise.all([queries.ListCategories({}), queries.ListProducts({})]);
  }
  const run = await closedLoop(task, options);
  console.log(JSON.stringify({ ...run, latency: run.latency.summary() }));
  Deno.exit(0);
}

if (import.meta.main) await main(JSON.parse(Deno.args[0]!));
