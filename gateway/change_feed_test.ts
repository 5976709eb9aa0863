import assert from "node:assert/strict";
import { type Change, grpc, type WatchChangesRequest } from "@catalog/proto";
import { type ChangeFeedClient, type WatchChangesOptions } from "@catalog/runtime";
import { eventually } from "@catalog/testkit";
import { GrpcChangeSource } from "./change_feed.ts";

/** A WatchChanges client in memory: each watch() is one call the test drives. */
class FakeFeedClient implements ChangeFeedClient {
  readonly calls: { request: WatchChangesRequest; options: WatchChangesOptions }[] = [];
  closed = false;

  watch(request: WatchChangesRequest, options: WatchChangesOptions) {
    this.calls.push({ request, options });
    return { cancel: () => options.onEnd(failure(grpc.status.CANCELLED)) };
  }

  close(): void {
    this.closed = true;
  }
}

function failure(code: grpc.status): grpc.ServiceError {
  return Object.assign(new Error(grpc.status[code]), {
    code,
    details: grpc.status[code],
    metadata: new grpc.Metadata(),
  });
}

function change(position: number): Change {
  return {
    position: String(position),
    entityType: "CATEGORY",
    entityId: crypto.randomUUID(),
    kind: "CREATED",
    commandId: "",
    at: "2026-01-02T03:04:05.000Z",
  };
}

function recorder() {
  const positions: string[] = [];
  const lost: string[] = [];
  let ended = 0;
  return {
    positions,
    lost,
    get ended() {
      return ended;
    },
    listener: {
      change: (change: Change) => positions.push(change.position),
      lost: (error: Error) => lost.push(error.message),
      end: () => ended++,
    },
  };
}

Deno.test("GrpcChangeSource resumes after the last position it saw when the stream breaks", async () => {
  const client = new FakeFeedClient();
  const source = new GrpcChangeSource(client, { minBackoffMs: 1, log: () => {} });
  const seen = recorder();
  source.listen(seen.listener);
  const ready = source.ready();
  client.calls[0]!.options.onStart!("7");
  await ready;
  assert.deepEqual(client.calls[0]!.request, {});
  client.calls[0]!.options.onChange(change(8));
  client.calls[0]!.options.onChange(change(9));
  client.calls[0]!.options.onEnd(failure(grpc.status.UNAVAILABLE));
  await eventually("a second call", () => Promise.resolve(client.calls.length === 2));
  assert.deepEqual(client.calls[1]!.request, { afterPosition: "9" });
  client.calls[1]!.options.onStart!("9");
  client.calls[1]!.options.onChange(change(12));
  assert.deepEqual(seen.positions, ["8", "9", "12"]);
  source.close();
  assert.equal(seen.ended, 1);
  assert.equal(client.closed, true);
});

Deno.test("GrpcChangeSource tells its listeners when changes were pruned before it read them", async () => {
  const client = new FakeFeedClient();
  const source = new GrpcChangeSource(client, { minBackoffMs: 1, log: () => {} });
  const seen = recorder();
  source.listen(seen.listener);
  const ready = source.ready();
  client.calls[0]!.options.onStart!("3");
  await ready;
  client.calls[0]!.options.onEnd(failure(grpc.status.OUT_OF_RANGE));
  assert.equal(seen.lost.length, 1);
  // It starts again from now, rather than asking for the lost position again.
  await eventually("a second call", () => Promise.resolve(client.calls.length === 2));
  assert.deepEqual(client.calls[1]!.request, {});
  source.close();
});

Deno.test("GrpcChangeSource.ready() rejects when the query service does not answer in time", async () => {
  const client = new FakeFeedClient();
  const source = new GrpcChangeSource(client, { readyTimeoutMs: 1, log: () => {} });
  await assert.rejects(source.ready(), /did not answer in 1 ms/);
  source.close();
});
