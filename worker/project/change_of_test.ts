import assert from "node:assert/strict";
import type { RecordedEvent } from "../events.ts";
import { changeOf, changesOf } from "./change_of.ts";
import { stepsOf } from "./steps.ts";

const toysId = "0a4f0c1e-1b1a-4c3e-9a57-3f0a1d1f7a01";
const kiteId = "0a4f0c1e-1b1a-4c3e-9a57-3f0a1d1f7a03";
const eventId = "0a4f0c1e-1b1a-4c3e-9a57-3f0a1d1f7e01";
const commandId = "0a4f0c1e-1b1a-4c3e-9a57-3f0a1d1f7c01";

const common = {
  eventId,
  aggregateVersion: 1,
  commandId,
  occurredAt: new Date("2025-01-01T00:00:00.000Z"),
};
const toysCreated: RecordedEvent = {
  ...common,
  type: "CategoryCreated",
  data: { name: "Toys" },
  aggregateType: "category",
  aggregateId: toysId,
};
const kiteCreated: RecordedEvent = {
  ...common,
  type: "ProductCreated",
  data: { name: "Kite", price: "9.99", categoryId: toysId },
  aggregateType: "product",
  aggregateId: kiteId,
};
const kiteUpdated: RecordedEvent = {
  ...kiteCreated,
  type: "ProductUpdated",
  aggregateVersion: 2,
};
const kiteDeleted: RecordedEvent = {
  ...common,
  type: "ProductDeleted",
  data: { categoryId: toysId },
  aggregateType: "product",
  aggregateId: kiteId,
  aggregateVersion: 3,
};

Deno.test("changeOf() describes the change an event made with the row its step answered", () => {
  assert.deepEqual(changeOf(toysCreated, { index: 1, entity: '{"name":"Toys"}' }), {
    entityType: "CATEGORY",
    entityId: toysId,
    kind: "CREATED",
    entity: '{"name":"Toys"}',
    commandId,
  });
  assert.deepEqual(changeOf(kiteDeleted, { index: 1, entity: '{"price":"9.99"}', found: true }), {
    entityType: "PRODUCT",
    entityId: kiteId,
    kind: "DELETED",
    entity: '{"price":"9.99"}',
    commandId,
  });
});

Deno.test("changeOf() makes no change of a deletion that found nothing to delete", () => {
  assert.equal(changeOf(kiteDeleted, { index: 1, entity: null, found: false }), undefined);
});

Deno.test("changeOf() fails a product event whose category or product the views do not hold", () => {
  const where = `${eventId} of product ${kiteId}`;
  const created = changeOf(kiteCreated, { index: 1, entity: null, found: false });
  assert.ok(created instanceof Error);
  assert.equal(
    created.message,
    `Cannot project ProductCreated ${where}: category ${toysId} is not in the view`,
  );
  const moved = changeOf(kiteUpdated, { index: 1, entity: null, found: true });
  assert.ok(moved instanceof Error);
  assert.equal(
    moved.message,
    `Cannot project ProductUpdated ${where}: category ${toysId} is not in the view`,
  );
  const missing = changeOf(kiteUpdated, { index: 1, entity: null, found: false });
  assert.ok(missing instanceof Error);
  assert.equal(
    missing.message,
    `Cannot project ProductUpdated ${where}: the product is not in the view`,
  );
});

Deno.test("changesOf() answers the changes in the batch's order, whatever the steps' order", () => {
  const events = [kiteCreated, kiteUpdated, kiteDeleted];
  const steps = stepsOf(events);
  const changes = changesOf(steps, [
    [{ index: 1, entity: "created", found: false }],
    [{ index: 1, entity: "updated", found: true }],
    [{ index: 1, entity: "deleted", found: true }],
  ]);
  assert.deepEqual(changes.map((change) => `${change.kind} ${change.entity}`), [
    "CREATED created",
    "UPDATED updated",
    "DELETED deleted",
  ]);
});

Deno.test("changesOf() leaves out events that changed nothing", () => {
  const steps = stepsOf([toysCreated, kiteDeleted]);
  const changes = changesOf(steps, [
    [{ index: 1, entity: "toys" }],
    [{ index: 1, entity: null, found: false }],
  ]);
  assert.deepEqual(changes.map((change) => change.entity), ["toys"]);
});

Deno.test("changesOf() throws the error of the first event the views could not take, in the batch's order", () => {
  const otherId = "0a4f0c1e-1b1a-4c3e-9a57-3f0a1d1f7a04";
  const steps = stepsOf([
    { ...kiteCreated, aggregateId: otherId },
    kiteUpdated,
  ]);
  assert.equal(steps.length, 1);
  assert.throws(
    () =>
      changesOf(steps, [[
        { index: 2, entity: null, found: false },
        { index: 1, entity: null, found: false },
      ]]),
    new RegExp(`Cannot project ProductCreated ${eventId} of product ${otherId}`),
  );
});
