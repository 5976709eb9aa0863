import { bulkhead, BulkheadRejectedError } from "cockatiel";
import { type DocumentNode, getOperationAST } from "graphql";
import { refusal } from "./edge.ts";

/** How many operations of each kind may run at once; see Admission. */
export interface AdmissionLimits {
  /** Mutations in progress, each holding its place until its answer is ready. */
  mutations: number;
  /** Queries in progress. */
  reads: number;
  /** What Retry-After tells a refused client, in seconds. */
  retryAfterSeconds: number;
}

/** The two kinds admission counts apart. */
export type OperationKind = "mutation" | "read";

/** What admission counts, for the metrics. */
export interface AdmissionObserver {
  /** An operation was refused at once because its kind was at its limit. */
  refused?(kind: OperationKind): void;
}

/**
 * Admission: a bound on the queries and on the mutations in progress, each
 * counted apart (cockatiel's bulkhead, with no queue). A request past its
 * kind's bound is answered at once with OVERLOADED (HTTP 503, Retry-After),
 * before GraphQL parses, validates or runs anything and before any backend is
 * called, so that past what the stack can carry the gateway refuses early and
 * for little instead of holding every request until clients give up. A
 * place is held until the request's answer is ready, a mutation's wait for
 * its command included. Subscriptions keep their own caps (SubscriptionCaps).
 */
export class Admission {
  readonly #limits: AdmissionLimits;
  readonly #observer: AdmissionObserver;
  readonly #policies;

  constructor(limits: AdmissionLimits, observer: AdmissionObserver = {}) {
    this.#limits = limits;
    this.#observer = observer;
    this.#policies = { mutation: bulkhead(limits.mutations), read: bulkhead(limits.reads) };
  }

  /** The operations of a kind in progress now. */
  inProgress(kind: OperationKind): number {
    return this.#limit(kind) - this.#policies[kind].executionSlots;
  }

  /** Runs serve() in a place of kind, or answers OVERLOADED at once when there is none. */
  async run(kind: OperationKind, serve: () => Response | Promise<Response>): Promise<Response> {
    try {
      return await this.#policies[kind].execute(async () => await serve());
    } catch (error) {
      if (!(error instanceof BulkheadRejectedError)) throw error;
      this.#observer.refused?.(kind);
      const seconds = this.#limits.retryAfterSeconds;
      return refusal(
        503,
        "OVERLOADED",
        `Cannot run the ${kind}: the gateway is at its limit of ${this.#limit(kind)} ${kind}s ` +
          `in progress; nothing was done, try again in ${seconds} s`,
        { "retry-after": String(seconds) },
      );
    }
  }

  #limit(kind: OperationKind): number {
    return kind === "mutation" ? this.#limits.mutations : this.#limits.reads;
  }
}

/** A mutation keyword outside a comment: a guess for a document not parsed yet. */
const mutationKeyword = /(?:^|[\s{}])mutation\b/;

/**
 * Which kind of operation a GraphQL request asks for, from its body (a POST)
 * or its URL (a GET), without parsing anything new: a document the gateway
 * has parsed before is read from yoga's document cache, exactly; for another,
 * the `mutation` keyword decides. A guess only picks which bound counts the
 * request: yoga still parses it under the token limit, and a mutation can
 * never run as a query.
 */
export function operationKind(
  request: Request,
  body: Uint8Array | undefined,
  documents: { get(source: string): DocumentNode | undefined },
): OperationKind {
  let query: unknown;
  let operationName: unknown;
  try {
    if (body) {
      ({ query, operationName } = JSON.parse(new TextDecoder().decode(body)));
    } else {
      const params = new URL(request.url).searchParams;
      query = params.get("query");
      operationName = params.get("operationName");
    }
  } catch {
    return "read";
  }
  if (typeof query !== "string") return "read";
  const document = documents.get(query);
  if (document) {
    const name = typeof operationName === "string" ? operationName : undefined;
    return getOperationAST(document, name)?.operation === "mutation" ? "mutation" : "read";
  }
  return mutationKeyword.test(query.replace(/#[^\n\r]*/g, "")) ? "mutation" : "read";
}
