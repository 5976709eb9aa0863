import type { GraphQLResult } from "@catalog/dev";

/** One event of a GraphQL over SSE stream: a result, or the end of the operation. */
export type SseEvent<T> = { event: "next"; data: GraphQLResult<T> } | { event: "complete" };

/** A subscription over Server-Sent Events, read event by event. */
export interface SseSubscription<T> {
  response: Response;
  /** The next event; undefined once the stream has ended without one. */
  next(): Promise<SseEvent<T> | undefined>;
  /** The data of the next event, which must be a `next` event. */
  nextData(): Promise<GraphQLResult<T>>;
  /** Hangs up, as a client that goes away. */
  close(): Promise<void>;
}

/** Options of subscribeSse(). */
export interface SseOptions {
  /** How the request is sent. Default: the global fetch (over HTTP). */
  fetch?: (request: Request) => Promise<Response>;
  /** Extra request headers. */
  headers?: Record<string, string>;
}

/**
 * Starts a GraphQL subscription in the GraphQL over SSE protocol's distinct
 * connections mode: POST with `Accept: text/event-stream`, then `next` events
 * with results and a `complete` event. Resolves once the response has begun,
 * that is once the server has set the subscription up.
 */
export async function subscribeSse<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  options: SseOptions = {},
): Promise<SseSubscription<T>> {
  const send = options.fetch ?? ((request: Request) => fetch(request));
  const response = await send(
    new Request(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "text/event-stream",
        ...options.headers,
      },
      body: JSON.stringify({ query, variables }),
    }),
  );
  if (!response.ok || !response.body) {
    throw new Error(`Cannot subscribe: ${response.status} ${await response.text()}`);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";

  async function next(): Promise<SseEvent<T> | undefined> {
    while (true) {
      const end = buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        const data: string[] = [];
        for (const line of block.split("\n")) {
          // Lines starting with a colon are comments: the server's keep-alive pings.
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
        }
        if (event === "next") return { event, data: JSON.parse(data.join("\n")) };
        if (event === "complete") return { event };
        continue;
      }
      const { value, done } = await reader.read();
      if (done) return undefined;
      buffer += value;
    }
  }

  return {
    response,
    next,
    async nextData() {
      const event = await next();
      if (event?.event !== "next") {
        throw new Error(`Cannot read a result: the stream sent ${JSON.stringify(event)}`);
      }
      return event.data;
    },
    async close() {
      await reader.cancel().catch(() => {});
    },
  };
}
