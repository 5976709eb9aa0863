import type { RecordedEvent } from "../events.ts";
import type { Step, StepRow } from "./steps.ts";

/** A row of the change feed (the read database's changes table), before it is written. */
export interface Change {
  entityType: "CATEGORY" | "PRODUCT";
  entityId: string;
  kind: "CREATED" | "UPDATED" | "DELETED";
  /** The view row after the change, as JSON text. */
  entity: string;
  commandId: string;
  /** The trace context of the command the change came from, if it was traced. */
  traceparent?: string;
}

const changeKinds = {
  CategoryCreated: "CREATED",
  CategoryUpdated: "UPDATED",
  CategoryDeleted: "DELETED",
  ProductCreated: "CREATED",
  ProductUpdated: "UPDATED",
  ProductDeleted: "DELETED",
} as const;

function inconsistent(event: RecordedEvent, what: string): Error {
  return new Error(
    `Cannot project ${event.type} ${event.eventId} of ${event.aggregateType} ${event.aggregateId}: ${what}`,
  );
}

/**
 * The change an event made, from what its step answered: the entity's row
 * after the event, or for a deletion the row as it was with the deletion's
 * version and time (a product's price as a string, never a binary float); no
 * change if it changed nothing; or the error that the read database does not
 * hold what the event needs.
 */
export function changeOf(event: RecordedEvent, row: StepRow): Change | Error | undefined {
  if (row.entity === null) {
    switch (event.type) {
      case "ProductCreated":
        return inconsistent(event, `category ${event.data.categoryId} is not in the view`);
      case "ProductUpdated":
        return row.found
          ? inconsistent(event, `category ${event.data.categoryId} is not in the view`)
          : inconsistent(event, "the product is not in the view");
      default:
        return undefined;
    }
  }
  return {
    entityType: event.aggregateType === "category" ? "CATEGORY" : "PRODUCT",
    entityId: event.aggregateId,
    kind: changeKinds[event.type],
    entity: row.entity,
    commandId: event.commandId,
    ...(event.traceparent ? { traceparent: event.traceparent } : {}),
  };
}

/**
 * The changes a batch's events made, in the batch's order, from what each
 * step's statement answered (`answers[i]` for `steps[i]`). Throws the error of
 * the first event, in the batch's order, that the read database could not
 * take.
 */
export function changesOf(
  steps: readonly Step[],
  answers: readonly (readonly StepRow[])[],
): Change[] {
  const outcomes: (Change | Error | undefined)[] = [];
  for (const [index, step] of steps.entries()) {
    for (const row of answers[index] ?? []) {
      const { at, event } = step.events[row.index - 1]!;
      outcomes[at] = changeOf(event, row);
    }
  }
  const changes: Change[] = [];
  for (const outcome of outcomes) {
    if (outcome instanceof Error) throw outcome;
    if (outcome) changes.push(outcome);
  }
  return changes;
}
