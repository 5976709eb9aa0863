import type { RecordedEvent } from "../events.ts";

/** Events that one statement applies: of one aggregate type, at most one per aggregate. */
export interface Step {
  aggregateType: RecordedEvent["aggregateType"];
  /** The events, with their places in the batch. */
  events: { at: number; event: RecordedEvent }[];
}

/**
 * Splits a batch's events into steps, each applied by one statement, so that
 * every view row and every change's row end up as applying the events one by
 * one would. The batch is cut into windows, runs of consecutive events of one
 * aggregate type. Within a window, events of different aggregates commute:
 * product events read of category_view only names and existence, which only
 * category events change, and a category event touches only its own row and
 * its products' category name. So only each aggregate's own order matters: a
 * window's first step holds each aggregate's first event in the window, the
 * second step each one's second, and so on. The product counts a window moves
 * are read (in a category's change) only after it.
 */
export function stepsOf(events: readonly RecordedEvent[]): Step[] {
  const steps: Step[] = [];
  let window: Step[] = [];
  let seen = new Map<string, number>();
  events.forEach((event, at) => {
    if (window[0] && window[0].aggregateType !== event.aggregateType) {
      steps.push(...window);
      window = [];
      seen = new Map();
    }
    const layer = seen.get(event.aggregateId) ?? 0;
    seen.set(event.aggregateId, layer + 1);
    (window[layer] ??= { aggregateType: event.aggregateType, events: [] }).events.push({
      at,
      event,
    });
  });
  steps.push(...window);
  return steps;
}

/** What a step's statement answers for each of its events, in order. */
export interface StepRow {
  /** The event's place in the step, from 1. */
  index: number;
  /** The event's change as changeOf() describes it, or null if it changed no row. */
  entity: string | null;
  /** Of a product event: whether the product was in the view before it. */
  found?: boolean;
}
