import { useGraphQlJit } from "@envelop/graphql-jit";
import { type DocumentNode, Kind } from "graphql";
import type { Plugin } from "graphql-yoga";
import { LRUCache } from "lru-cache";

/**
 * What the gateway keeps of the documents clients send, all of it bounded by
 * the number of documents: yoga's parsed documents (and parse errors) in
 * least-recently-used caches of `size` entries, and everything else keyed by
 * those parsed documents in WeakMaps (yoga's validation results,
 * graphql-jit's compiled queries, the runs counted here), so it goes with
 * them.
 */
export function documentCaches(
  size: number,
): { documentCache: LRUCache<string, DocumentNode>; errorCache: LRUCache<string, Error> } {
  return {
    documentCache: new LRUCache<string, DocumentNode>({ max: size }),
    errorCache: new LRUCache<string, Error>({ max: size }),
  };
}

/** Runs of a document before it is compiled. */
export const COMPILE_AT_RUN = 2;

/**
 * Queries and mutations run as JavaScript compiled by graphql-jit, from
 * their second run on: a list of products costs the executor several times
 * less compiled, but a compile costs about 0.6 ms, more than a small
 * operation's whole run, and each compiled source stays in V8's compilation
 * cache for the life of the process (under Deno, where a heap snapshot showed
 * it holding 16 KB per document). A document sent once, as a one-off with
 * its values written inline, runs on graphql-js and is never compiled, so a
 * stream of distinct documents costs what graphql-js costs and keeps
 * nothing. The gateway's V8 flags turn that cache off as well
 * (`--no-compilation-cache`, deno.json), for documents that come twice each.
 * Subscriptions keep graphql-js: each event is one small execution.
 */
export function compiledExecution(onError: (errors: unknown) => void): Plugin {
  const runs = new WeakMap<DocumentNode, number>();
  return useGraphQlJit({}, {
    enableIf: ({ document }) => {
      const isSubscription = document.definitions.some((definition) =>
        definition.kind === Kind.OPERATION_DEFINITION && definition.operation === "subscription"
      );
      if (isSubscription) return false;
      const run = (runs.get(document) ?? 0) + 1;
      runs.set(document, run);
      return run >= COMPILE_AT_RUN;
    },
    onError: (result) => onError(result.errors),
  }) as Plugin;
}
