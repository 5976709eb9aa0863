/**
 * The facts the worker records in the write database's event log, named in
 * the past tense after the commands that cause them. Prices are two-decimal
 * strings ("19.90"). Product events carry the product's full new state, so a
 * projection never needs to look back.
 */
export interface EventData {
  CategoryCreated: { name: string };
  CategoryUpdated: { name: string };
  CategoryDeleted: Record<string, never>;
  ProductCreated: { name: string; price: string; categoryId: string };
  ProductUpdated: { name: string; price: string; categoryId: string };
  ProductDeleted: { categoryId: string };
}

export type EventType = keyof EventData;

/** An event as decide() produces it: what happened, not yet to which version. */
export type DomainEvent = { [T in EventType]: { type: T; data: EventData[T] } }[EventType];

/** An event as stored in the `events` table and read back by the projector. */
export type RecordedEvent = DomainEvent & {
  eventId: string;
  aggregateType: "category" | "product";
  aggregateId: string;
  aggregateVersion: number;
  commandId: string;
  occurredAt: Date;
  /** The W3C trace context of the command's publish, when it was traced. */
  traceparent?: string;
};
