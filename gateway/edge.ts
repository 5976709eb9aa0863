import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { GraphQLError, Kind, type OperationDefinitionNode } from "graphql";
import type { Plugin } from "graphql-yoga";
import {
  AuthError,
  bearerToken,
  type Identity,
  requireRole,
  type Verifier,
} from "@catalog/runtime";

/**
 * The checks a request meets at the gateway's door, before GraphQL reads it:
 * a content type a browser cannot send cross-site without asking first, a
 * body of bounded size, a verified token when there is one, and a rate limit
 * per identity (or per IP address when anonymous).
 */

/** Who sent a request, for the rate limit of anonymous callers. */
export interface ClientInfo {
  /** The remote address, such as "203.0.113.7". */
  address?: string;
}

/** What passes the door: the request to run and who sent it. */
export interface Admitted {
  request: Request;
  identity: Identity | undefined;
  /** The bearer token, forwarded to the command and query services. */
  token: string | undefined;
  /** The body of a POST, as read. */
  body?: Uint8Array;
}

/** A refusal at the door, as the GraphQL-over-HTTP response a client gets. */
export function refusal(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return Response.json({ errors: [{ message, extensions: { code } }] }, {
    status,
    headers: { ...headers, "content-type": "application/graphql-response+json; charset=utf-8" },
  });
}

/**
 * The media types a POST may carry. A browser sends
 * application/x-www-form-urlencoded, multipart/form-data and text/plain to
 * any origin without a preflight, so accepting them would let any web page a
 * staff member opens send mutations with the page's visitor's network
 * position: they are refused.
 */
const POST_TYPES = new Set([
  "application/json",
  "application/graphql-response+json",
  "application/graphql+json",
]);

/** Options of createDoor(). */
export interface DoorOptions {
  verify: Verifier;
  maxBodyBytes: number;
  /** Requests per minute of one identity or address; 0 turns the limit off. */
  rateLimitPerMinute: number;
}

/** Checks requests at the door; see the module's documentation. */
export type Door = (request: Request, client?: ClientInfo) => Promise<Admitted | Response>;

/** The gateway's door for /graphql requests. */
export function createDoor(options: DoorOptions): Door {
  const limiter = options.rateLimitPerMinute > 0
    ? new RateLimiterMemory({ points: options.rateLimitPerMinute, duration: 60 })
    : undefined;

  return async (request, client) => {
    let body: Uint8Array | undefined;
    if (request.method === "POST") {
      const type = (request.headers.get("content-type") ?? "").split(";")[0]!.trim()
        .toLowerCase();
      if (!POST_TYPES.has(type)) {
        return refusal(
          415,
          "UNSUPPORTED_MEDIA_TYPE",
          `Cannot accept a POST of ${type ? JSON.stringify(type) : "no content type"}: ` +
            "send application/json (web pages of other sites can send this type without asking)",
        );
      }
      const read = await readBounded(request, options.maxBodyBytes);
      if (read === undefined) {
        return refusal(
          413,
          "REQUEST_TOO_LARGE",
          `Cannot accept a request body over ${options.maxBodyBytes} bytes`,
        );
      }
      body = read;
    }

    let identity: Identity | undefined;
    const authorization = request.headers.get("authorization");
    const token = bearerToken(authorization);
    if (authorization !== null && !token) {
      return refusal(
        401,
        "UNAUTHENTICATED",
        'Cannot read the Authorization header: send "Bearer <token>"',
        {
          "www-authenticate": 'Bearer error="invalid_request"',
        },
      );
    }
    if (token) {
      try {
        identity = await options.verify(token);
      } catch (error) {
        const message = error instanceof AuthError ? error.message : "Cannot verify the token";
        return refusal(401, "UNAUTHENTICATED", message, {
          "www-authenticate": 'Bearer error="invalid_token"',
        });
      }
    }

    if (limiter) {
      const key = clientKey(identity, client);
      try {
        await limiter.consume(key);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        const seconds = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
        return refusal(
          429,
          "RATE_LIMITED",
          `Cannot serve more than ${options.rateLimitPerMinute} requests a minute ` +
            `${
              identity ? "to one identity" : "to one address without a token"
            }: retry in ${seconds} s`,
          { "retry-after": String(seconds) },
        );
      }
    }

    // A fresh request, because yoga reads request.signal, and reading it on a
    // Deno.serve request prints a warning about its legacy abort behaviour.
    const admitted = new Request(request.url, {
      method: request.method,
      headers: request.headers,
      body: body as BodyInit | undefined,
    });
    return { request: admitted, identity, token, ...(body ? { body } : {}) };
  };
}

/** The whole body, or undefined as soon as it exceeds limit bytes. */
async function readBounded(request: Request, limit: number): Promise<Uint8Array | undefined> {
  const declared = Number(request.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > limit) return undefined;
  if (!request.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  const whole = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    whole.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return whole;
}

/** The key rate limits and subscription caps count a caller by. */
export function clientKey(identity: Identity | undefined, client?: ClientInfo): string {
  return identity ? `sub:${identity.subject}` : `ip:${client?.address ?? "unknown"}`;
}

/**
 * Open subscriptions, per client and in all: one client cannot hold the
 * gateway's memory with thousands of streams, nor crowd the others out.
 */
export class SubscriptionCaps {
  readonly #open = new Map<string, number>();
  #total = 0;

  constructor(readonly perClient: number, readonly total: number) {}

  /** How many are open now. */
  get open(): number {
    return this.#total;
  }

  /**
   * Takes a place for key's new subscription, answering the function that
   * gives it back (once), or a refusal when a cap is reached.
   */
  take(key: string): (() => void) | Response {
    const mine = this.#open.get(key) ?? 0;
    if (mine >= this.perClient || this.#total >= this.total) {
      const which = mine >= this.perClient
        ? `${this.perClient} open subscriptions per client`
        : `${this.total} open subscriptions in all`;
      return refusal(
        429,
        "TOO_MANY_SUBSCRIPTIONS",
        `Cannot open another subscription: this gateway serves at most ${which}`,
        {
          "retry-after": "5",
        },
      );
    }
    this.#open.set(key, mine + 1);
    this.#total++;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.#total--;
      const left = (this.#open.get(key) ?? 1) - 1;
      if (left > 0) this.#open.set(key, left);
      else this.#open.delete(key);
    };
  }
}

/** The body of response, calling done once when it ends, fails or its reader goes away. */
export function onBodyEnd(response: Response, done: () => void): Response {
  if (!response.body) {
    done();
    return response;
  }
  const reader = response.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: ended, value } = await reader.read();
        if (ended) {
          done();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        done();
        controller.error(error);
      }
    },
    cancel(reason) {
      done();
      return reader.cancel(reason);
    },
  });
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/** What the role check reads from yoga's context. */
export interface AccessContext {
  identity?: Identity;
  publicReads: boolean;
}

function authError(error: AuthError): GraphQLError {
  return new GraphQLError(error.message, {
    extensions: {
      code: error.code,
      http: {
        status: error.code === "UNAUTHENTICATED" ? 401 : 403,
        ...(error.code === "UNAUTHENTICATED" ? { headers: { "www-authenticate": "Bearer" } } : {}),
      },
    },
  });
}

function check(operation: OperationDefinitionNode | undefined, context: AccessContext): void {
  const type = operation?.operation ?? "query";
  if (type === "mutation") requireRole(context.identity, "catalog:write", "send a mutation");
  else if (!context.publicReads) requireRole(context.identity, "catalog:read", `run a ${type}`);
}

/**
 * Mutations need catalog:write; queries and subscriptions need catalog:read
 * unless reads are public. Checked once per operation, before any resolver
 * runs, so a refused operation calls no service.
 */
export function accessPlugin(): Plugin<AccessContext> {
  const operationOf = (args: { document: unknown; operationName?: string | null }) => {
    const definitions = (args.document as { definitions: readonly { kind: string }[] })
      .definitions.filter((definition): definition is OperationDefinitionNode =>
        definition.kind === Kind.OPERATION_DEFINITION
      );
    return args.operationName
      ? definitions.find((definition) => definition.name?.value === args.operationName)
      : definitions[0];
  };
  const guard = (
    args: { document: unknown; operationName?: string | null; contextValue: AccessContext },
    stop: (result: { errors: GraphQLError[] }) => void,
  ) => {
    try {
      check(operationOf(args), args.contextValue);
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      stop({ errors: [authError(error)] });
    }
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      guard(args as never, setResultAndStopExecution);
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      guard(args as never, setResultAndStopExecution);
    },
  };
}
