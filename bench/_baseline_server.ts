/**
 * The baseline servers, each run as a child process of its own so that it
 * gets a process (and an event loop) just as a service does:
 *
 *   deno run -A bench/_baseline_server.ts yoga <static.json>
 *   deno run -A bench/_baseline_server.ts grpc
 *
 * `yoga` serves the gateway's schema with graphql-yoga on Deno.serve (the
 * gateway's HTTP server, with the same copy of each request), every query answered by a static resolver from the
 * JSON file ({ categories, products }, as the gateway answered them). `grpc`
 * is a bare grpc-js server with one unary method that answers its request's
 * bytes. Each prints `ready <port>` once it listens, on 127.0.0.1.
 */
import { createSchema, createYoga } from "graphql-yoga";
import { grpc } from "@catalog/proto";
import { Buffer } from "node:buffer";
import { typeDefs } from "../gateway/schema.ts";

/** The echo method of the gRPC baseline: raw bytes in, the same bytes out. */
export const echoDefinition = {
  Echo: {
    path: "/bench.Echo/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: (value: Uint8Array) => Buffer.from(value),
    requestDeserialize: (bytes: Buffer) => new Uint8Array(bytes),
    responseSerialize: (value: Uint8Array) => Buffer.from(value),
    responseDeserialize: (bytes: Buffer) => new Uint8Array(bytes),
  },
} as const;

interface StaticCatalog {
  categories: { id: string }[];
  products: { id: string }[];
}

function serveYoga(file: string): void {
  const catalog: StaticCatalog = JSON.parse(Deno.readTextFileSync(file));
  const byId = new Map(catalog.products.map((product) => [product.id, product]));
  const yoga = createYoga({
    schema: createSchema({
      typeDefs,
      resolvers: {
        Query: {
          categories: () => catalog.categories,
          products: () => catalog.products,
          product: (_: unknown, args: { id: string }) => byId.get(args.id) ?? null,
        },
      },
    }),
    graphqlEndpoint: "/graphql",
    graphiql: false,
    landingPage: false,
  });
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(`ready ${port}`),
  }, (request) =>
    // A fresh request, as the gateway makes, also so that yoga does not read
    // the legacy abort signal of a Deno.serve request.
    yoga.fetch(
      new Request(request.url, {
        method: request.method,
        headers: request.headers,
        body: request.body,
      }),
    ));
}

function serveGrpc(): void {
  const server = new grpc.Server();
  server.addService(echoDefinition as unknown as grpc.ServiceDefinition, {
    Echo: (
      call: grpc.ServerUnaryCall<Uint8Array, Uint8Array>,
      callback: grpc.sendUnaryData<Uint8Array>,
    ) => callback(null, call.request),
  });
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error) {
      console.error(`Cannot start the gRPC echo server: ${error.message}`);
      Deno.exit(1);
    }
    console.log(`ready ${port}`);
  });
}

if (import.meta.main) {
  const [kind, file] = Deno.args;
  if (kind === "yoga" && file) serveYoga(file);
  else if (kind === "grpc") serveGrpc();
  else {
    console.error("Usage: _baseline_server.ts yoga <static.json> | grpc");
    Deno.exit(2);
  }
}
