/**
 * The gateway's GraphQL metrics, as yoga plugins on a registry of its own:
 * operations by name, type and outcome, their duration, and the SSE
 * subscriptions open. The gRPC client metrics of its calls are registered on
 * the same registry by main.ts (grpcClientMetrics()). See docs/observability.md.
 */
import { type DocumentNode, type ExecutionResult, getOperationAST } from "graphql";
import {
  errorAsyncIterator,
  finalAsyncIterator,
  isAsyncIterable,
  mapAsyncIterator,
  type Plugin,
} from "graphql-yoga";
import {
  createHistogram,
  type FillLabelsFnParams,
  usePrometheus,
} from "@graphql-yoga/plugin-prometheus";
import { durationBuckets, metricPrefix, prom, readGauge, type Registry } from "@catalog/runtime";
import type { Admission, AdmissionLimits, AdmissionObserver } from "./admission.ts";
import { type Breakers, stateName } from "./breakers.ts";

/** How many distinct operation names the labels carry by default; later new names are "other". */
export const MAX_OPERATION_NAMES = 200;

/** An operation name that may become a label value: a GraphQL name of at most 64 characters. */
const labelledName = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * The operation names the metrics have used, bounded, so that a client that
 * puts ids or random words in its operation names cannot grow the series
 * without end.
 */
export class OperationNames {
  readonly #seen = new Set<string>();

  constructor(readonly max: number = MAX_OPERATION_NAMES) {}

  /**
   * The label of an operation's name: "anonymous" without one; the name once
   * seen, or if it is a plain name and fewer than max were seen; else "other".
   */
  label(name: string | undefined): string {
    if (name === undefined || name === "") return "anonymous";
    if (this.#seen.has(name)) return name;
    if (!labelledName.test(name) || this.#seen.size >= this.max) return "other";
    this.#seen.add(name);
    return name;
  }
}

type OperationLabels = { operation_name: string; operation_type: string };

/**
 * The labels of the operation graphql-js runs, by its type and name; "other"
 * and "unknown" without a type: the document has no operation of the name
 * the client asked for (and the request fails).
 */
function labelsOf(
  names: OperationNames,
  type: string | undefined,
  name: string | undefined,
): OperationLabels {
  if (!type) return { operation_name: "other", operation_type: "unknown" };
  return { operation_name: names.label(name), operation_type: type };
}

/** The labels of the operation of document that graphql-js runs for the name asked for. */
function labelsOfDocument(
  names: OperationNames,
  document: DocumentNode,
  requested: string | null | undefined,
): OperationLabels {
  const operation = getOperationAST(document, requested);
  return labelsOf(names, operation?.operation, operation?.name?.value);
}

/** What the plugin's HTTP histogram hands its fillLabelsFn. */
type HttpLabelParams = FillLabelsFnParams & { request: Request; response: Response };

/** Options of gatewayMetrics(). */
export interface GatewayMetricsOptions {
  /** How many SSE subscriptions are open now. */
  openSubscriptions: () => number;
  /** Distinct operation names the labels carry; see OperationNames. Default MAX_OPERATION_NAMES. */
  maxOperationNames?: number;
}

/**
 * Registers the gateway's GraphQL metrics on registry and answers the yoga
 * plugins that record them: each request whose document parsed is one
 * operation, counted and timed once, whatever answered it (validation, the
 * role check, the resolvers).
 */
export function gatewayMetrics(registry: Registry, options: GatewayMetricsOptions): Plugin[] {
  const names = new OperationNames(options.maxOperationNames);

  readGauge(
    registry,
    "graphql_subscriptions_open",
    "SSE subscriptions open now (each holds a place of SUBSCRIPTIONS_MAX).",
    options.openSubscriptions,
  );

  const prometheus = usePrometheus({
    registry,
    // /metrics is answered by createGateway() before any check at the door,
    // with the process's metrics too; the plugin's own endpoint would sit
    // behind the door and serve only this registry.
    endpoint: false,
    // The yoga plugin turns on nearly every metric unless told otherwise:
    // all off but the one renamed below.
    metrics: {
      graphql_envelop_deprecated_field: false,
      graphql_envelop_request: false,
      graphql_envelop_request_duration: false,
      graphql_envelop_request_time_summary: false,
      graphql_envelop_phase_parse: false,
      graphql_envelop_phase_validate: false,
      graphql_envelop_phase_context: false,
      graphql_envelop_error_result: false,
      graphql_envelop_execute_resolver: false,
      graphql_envelop_phase_execute: false,
      graphql_envelop_phase_subscribe: false,
      graphql_envelop_schema_change: false,
      // The plugin's graphql_envelop_request_duration starts its clock at
      // execute, leaving parse and validation out; its HTTP duration runs
      // from yoga's request to its response (the door has already read the
      // body), observed for every request whose document parsed: the whole
      // operation. For a subscription that is until its stream starts. The
      // plugin times it with Date.now(), so to the millisecond: an operation
      // under 1 ms is observed as 0.
      graphql_yoga_http_duration: createHistogram<
        "request",
        "operation_name" | "operation_type",
        HttpLabelParams
      >({
        registry,
        histogram: {
          name: `${metricPrefix}graphql_operation_duration_seconds`,
          help:
            "How long GraphQL operations took, from parsing the document to the result (for a subscription, until its stream starts), by operation name and type.",
          labelNames: ["operation_name", "operation_type"],
          buckets: durationBuckets,
        },
        fillLabelsFn: (params) => labelsOf(names, params.operationType, params.operationName),
      }),
    },
  });

  return [prometheus, operationCounter(registry, names)];
}

/**
 * catalog_graphql_operations_total, counted by a plugin of our own: the
 * prometheus plugin's request counter fills its labels when execution ends,
 * without the result, so it cannot say whether the operation failed; and it
 * never sees an operation refused before execution (by validation, a limit,
 * yoga's checks). This counts the operations the duration histogram times,
 * each request whose document parsed, once its result is known: at once, or
 * for a subscription when its stream ends ("error" if any event, or the
 * stream itself, failed).
 */
function operationCounter(registry: Registry, names: OperationNames): Plugin {
  const operations = new prom.Counter({
    name: `${metricPrefix}graphql_operations_total`,
    help:
      'GraphQL operations by operation name, type and outcome ("error" when the result has errors).',
    labelNames: ["operation_name", "operation_type", "outcome"] as const,
    registers: [registry],
  });
  const labelsByRequest = new WeakMap<Request, OperationLabels>();
  const count = (labels: OperationLabels, failed: boolean) =>
    operations.inc({ ...labels, outcome: failed ? "error" : "ok" });
  const hasErrors = (result: unknown) =>
    ((result as ExecutionResult | undefined)?.errors?.length ?? 0) > 0;

  return {
    onParse({ context }) {
      return ({ result }) => {
        if (!result || result instanceof Error) return;
        const { request, params } = context as {
          request?: Request;
          params?: { operationName?: string | null };
        };
        if (request) {
          labelsByRequest.set(request, labelsOfDocument(names, result, params?.operationName));
        }
      };
    },
    onResultProcess({ request, result, setResult }) {
      const labels = labelsByRequest.get(request);
      if (!labels) return;
      labelsByRequest.delete(request);
      if (!isAsyncIterable(result)) {
        count(labels, Array.isArray(result) ? result.some(hasErrors) : hasErrors(result));
        return;
      }
      let failed = false;
      let counted = false;
      const end = () => {
        if (counted) return;
        counted = true;
        count(labels, failed);
      };
      const watched = mapAsyncIterator(result, (value) => {
        if (hasErrors(value)) failed = true;
        return value;
      });
      setResult(
        errorAsyncIterator(finalAsyncIterator(watched, end), (error) => {
          failed = true;
          end();
          throw error;
        }),
      );
    },
  };
}

/**
 * Registers admission's metrics (see admission.ts) on registry: the
 * operations in progress and the limit, by kind, and the operations refused,
 * by kind and reason; answers the observer that counts the refusals.
 */
export function admissionMetrics(
  registry: Registry,
  limits: AdmissionLimits,
  inProgress: Admission["inProgress"],
): AdmissionObserver {
  const kinds = ["mutation", "read"] as const;
  new prom.Gauge({
    name: `${metricPrefix}gateway_operations_in_progress`,
    help: "Queries and mutations in progress now, by kind (each kind has its admission limit).",
    labelNames: ["kind"] as const,
    registers: [registry],
    collect() {
      for (const kind of kinds) this.set({ kind }, inProgress(kind));
    },
  });
  const limit = new prom.Gauge({
    name: `${metricPrefix}gateway_admission_limit`,
    help: "Operations of a kind that may be in progress at once; past it they are refused.",
    labelNames: ["kind"] as const,
    registers: [registry],
  });
  limit.set({ kind: "mutation" }, limits.mutations);
  limit.set({ kind: "read" }, limits.reads);
  const refused = new prom.Counter({
    name: `${metricPrefix}gateway_operations_refused_total`,
    help: 'Operations refused at once, by kind and reason ("overloaded": at the admission limit).',
    labelNames: ["kind", "reason"] as const,
    registers: [registry],
  });
  for (const kind of kinds) refused.inc({ kind, reason: "overloaded" }, 0);
  return { refused: (kind) => refused.inc({ kind, reason: "overloaded" }) };
}

/**
 * Registers the circuit breakers' state (see breakers.ts) on registry:
 * catalog_gateway_circuit_state{backend, state} is 1 for each backend's
 * current state ("closed", "open", "half_open") and 0 for the others.
 */
export function breakerMetrics(registry: Registry, breakers: Breakers): void {
  const states = ["closed", "open", "half_open"] as const;
  new prom.Gauge({
    name: `${metricPrefix}gateway_circuit_state`,
    help: "State of the circuit breaker of the calls to each backend: 1 for the current state.",
    labelNames: ["backend", "state"] as const,
    registers: [registry],
    collect() {
      for (const [backend, breaker] of Object.entries(breakers)) {
        const current = stateName(breaker.state);
        for (const state of states) this.set({ backend, state }, state === current ? 1 : 0);
      }
    },
  });
}
