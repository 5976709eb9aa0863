/**
 * The contracts the services share: gRPC protos and their TypeScript shapes,
 * the command payloads with their rules, the RabbitMQ envelope and topology,
 * and money on the wire.
 */
export * from "./catalog.ts";
export * from "./change_feed.ts";
export * from "./commands.ts";
export * from "./envelope.ts";
export * from "./grpc.ts";
export * from "./money.ts";
export * from "./topology.ts";
export * from "./read_model.ts";
