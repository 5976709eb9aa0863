/**
 * Test helper: an OTLP/HTTP receiver (JSON encoding) on loopback that keeps
 * every span the services export, so that a test can find a trace and walk
 * it. Point a service at it with otlpEnv(receiver).
 */

/** One span as OTLP/JSON carries it, with the service that sent it. */
export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string }[];
  events: { name: string; attributes: Record<string, unknown> }[];
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}

function valueOf(value: OtlpValue | undefined): unknown {
  if (!value) return undefined;
  return value.stringValue ?? value.intValue ?? value.boolValue ?? value.doubleValue;
}

function attributesOf(list: { key: string; value: OtlpValue }[] | undefined) {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, valueOf(value)]));
}

/** A running receiver. */
export interface OtlpReceiver extends AsyncDisposable {
  /** The base URL to give as OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint: string;
  /** Every span received so far, in arrival order. */
  readonly spans: readonly ReceivedSpan[];
  close(): Promise<void>;
}

/** Starts a receiver on a free loopback port. */
export function startOtlpReceiver(): OtlpReceiver {
  const spans: ReceivedSpan[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const path = new URL(request.url).pathname;
    const body = await request.text();
    if (path === "/v1/traces" && body !== "") {
      const payload = JSON.parse(body) as {
        resourceSpans?: {
          resource?: { attributes?: { key: string; value: OtlpValue }[] };
          scopeSpans?: {
            spans?: (Omit<ReceivedSpan, "service" | "attributes" | "links" | "events"> & {
              attributes?: { key: string; value: OtlpValue }[];
              links?: { traceId: string; spanId: string }[];
              events?: { name: string; attributes?: { key: string; value: OtlpValue }[] }[];
            })[];
          }[];
        }[];
      };
      for (const resource of payload.resourceSpans ?? []) {
        const service = String(attributesOf(resource.resource?.attributes)["service.name"] ?? "");
        for (const scope of resource.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            spans.push({
              ...span,
              service,
              parentSpanId: span.parentSpanId || undefined,
              attributes: attributesOf(span.attributes),
              links: span.links ?? [],
              events: (span.events ?? []).map((event) => ({
                name: event.name,
                attributes: attributesOf(event.attributes),
              })),
            });
          }
        }
      }
    }
    return new Response("{}", { headers: { "content-type": "application/json" } });
  });
  const close = () => server.shutdown();
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    spans,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The environment that has a service trace to the receiver (OTLP over HTTP, JSON). */
export function otlpEnv(receiver: OtlpReceiver): Record<string, string> {
  return {
    OTEL_DENO: "true",
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_DENO_CONSOLE: "ignore",
  };
}
