import assert from "node:assert/strict";
import type { RecordedEvent } from "../events.ts";
import { stepsOf } from "./steps.ts";

/** An event of the given aggregate, named by its aggregate id. */
function event(aggregateType: "category" | "product", aggregateId: string): RecordedEvent {
  const common = {
    eventId: crypto.randomUUID(),
    aggregateType,
    aggregateId,
    aggregateVersion: 1,
    commandId: crypto.randomUUID(),
    occurredAt: new Date("2025-01-01T00:00:00.000Z"),
  };
  return aggregateType === "category"
    ? { ...common, type: "CategoryCreated", data: { name: aggregateId } }
    : { ...common, type: "ProductDeleted", data: { categoryId: "c" } };
}

/** The steps as "type: aggregate@place" lists, to read at a glance. */
function shape(events: RecordedEvent[]): string[][] {
  return stepsOf(events).map((step) =>
    step.events.map(({ at, event }) => `${step.aggregateType}: ${event.aggregateId}@${at}`)
  );
}

Deno.test("stepsOf() applies a run of one aggregate type's events, one per aggregate, in one step", () => {
  assert.deepEqual(shape([event("product", "p1"), event("product", "p2")]), [
    ["product: p1@0", "product: p2@1"],
  ]);
});

Deno.test("stepsOf() puts an aggregate's next event of the same run in the next step", () => {
  const events = [
    event("product", "p1"),
    event("product", "p2"),
    event("product", "p1"),
    event("product", "p1"),
  ];
  assert.deepEqual(shape(events), [
    ["product: p1@0", "product: p2@1"],
    ["product: p1@2"],
    ["product: p1@3"],
  ]);
});

Deno.test("stepsOf() keeps runs of different aggregate types in the batch's order", () => {
  const events = [
    event("category", "c1"),
    event("product", "p1"),
    event("product", "p1"),
    event("category", "c1"),
    event("category", "c2"),
  ];
  assert.deepEqual(shape(events), [
    ["category: c1@0"],
    ["product: p1@1"],
    ["product: p1@2"],
    ["category: c1@3", "category: c2@4"],
  ]);
});

Deno.test("stepsOf() makes no step of no events", () => {
  assert.deepEqual(stepsOf([]), []);
});
