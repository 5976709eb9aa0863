/**
 * Traces, through OpenTelemetry's API. Deno exports them over OTLP when
 * OTEL_DENO=true (OTEL_EXPORTER_OTLP_ENDPOINT says where), and instruments
 * HTTP and node:http2 itself, so that a GraphQL request and the gRPC calls it
 * makes form one trace with no code of ours. What Deno cannot see is added
 * here: the hop through RabbitMQ (the W3C traceparent rides in the command's
 * envelope), the worker's handling, and the database work. With tracing off,
 * every call is OpenTelemetry's no-op, which costs next to nothing.
 */
import {
  type Context,
  context,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";

export { SpanKind };
export type { Context, Span };

const tracer = trace.getTracer("catalog");

/** Options of inSpan(). */
export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Record<string, string | number | boolean>;
  /** The parent; default the active context. */
  parent?: Context;
  /** Spans this one is linked to (rather than parented by). */
  links?: Link[];
}

/**
 * Runs fn inside a new span, active for everything fn does, and ends it when
 * fn settles; a rejection marks the span as an error and is rethrown.
 */
export function inSpan<T>(
  name: string,
  options: SpanOptions,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = options.parent ?? context.active();
  return tracer.startActiveSpan(
    name,
    { kind: options.kind, attributes: options.attributes, links: options.links },
    parent,
    async (span) => {
      try {
        return await fn(span);
      } catch (error) {
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: error instanceof Error ? error.message : String(error),
        });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** The W3C traceparent of the active span (or of `of`), to send on; undefined when none is recording. */
export function traceparentOf(of: Context = context.active()): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(of, carrier);
  return carrier.traceparent;
}

/** The context a received W3C traceparent names; the root context when there is none. */
export function contextOf(traceparent: string | undefined): Context {
  if (!traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/** A link to the span a traceparent names, or undefined when it names none. */
export function linkTo(traceparent: string | undefined): Link | undefined {
  const spanContext = trace.getSpanContext(contextOf(traceparent));
  return spanContext ? { context: spanContext } : undefined;
}

/** The trace id of the active span, for log lines; undefined when none is recording. */
export function activeTraceId(): string | undefined {
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext && trace.isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
}

/** Starts a span that the caller ends, and the context in which it is active. */
export function startSpan(name: string, options: SpanOptions): { span: Span; context: Context } {
  const parent = options.parent ?? context.active();
  const span = tracer.startSpan(
    name,
    { kind: options.kind, attributes: options.attributes, links: options.links },
    parent,
  );
  return { span, context: trace.setSpan(parent, span) };
}

/** Runs fn with ctx active. */
export function withContext<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn);
}

/** Ends a span, marked as an error when `error` is given. */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: error instanceof Error ? error.message : String(error),
    });
  }
  span.end();
}

/** Whether this process exports traces (OTEL_DENO=true). */
export const tracingEnabled = (() => {
  try {
    return Deno.env.get("OTEL_DENO") === "true";
  } catch {
    return false;
  }
})();

/**
 * postgres.js's `debug` hook, told of each statement as it is sent: the
 * statement's text becomes an event of the active span (the database work
 * that sent it). Given to a pool only when tracing is on, since postgres.js
 * keeps more of each query while debug is set.
 */
export function traceStatement(_connection: number, query: string): void {
  const span = trace.getActiveSpan();
  if (span?.isRecording()) span.addEvent("statement", { "db.query.text": query.slice(0, 2000) });
}
