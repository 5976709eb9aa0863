import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import type { GraphQLArmorRejectCallback } from "@escape.tech/graphql-armor-types";
import {
  type DocumentNode,
  getNamedType,
  getNullableType,
  GraphQLError,
  GraphQLList,
  type GraphQLSchema,
  Kind,
  type ValidationContext,
} from "graphql";
import { type ComplexityEstimator, getComplexity } from "graphql-query-complexity";
import type { Plugin } from "graphql-yoga";
import { introspectionPlugin } from "./introspection.ts";

/**
 * What one operation may ask for before it runs. Each limit refuses with its
 * own stable code (MAX_DEPTH, MAX_ALIASES, MAX_TOKENS, MAX_DIRECTIVES,
 * MAX_COST) before any service is called.
 */
export interface OperationLimits {
  /** Nesting of fields. */
  maxDepth: number;
  /** Aliases in one document. */
  maxAliases: number;
  /** Lexical tokens in one document: stops a huge document while it is parsed. */
  maxTokens: number;
  /** Directives in one document. */
  maxDirectives: number;
  /** Estimated cost; see listAwareEstimator. */
  maxCost: number;
  /** Whether unknown-field errors may say "Did you mean …?". */
  fieldSuggestions: boolean;
}

/** The items a list field without a page size is expected to answer, for its cost. */
export const ASSUMED_LIST_SIZE = 10;

/**
 * The cost of a field: 1, plus its selections once for an object, or once
 * per expected item for a list, so that nesting lists multiplies. A list
 * with a page size (`perPage`, `first`) costs that many items; a connection's
 * `edges` and `nodes` count once, the connection field already having counted
 * its items. `__schema` and `__type` cost nothing here.
 */
export const listAwareEstimator: ComplexityEstimator = ({ type, field, args, childComplexity }) => {
  // Reading the schema touches no backend: introspectionRule() bounds it instead.
  if (field.name === "__schema" || field.name === "__type") return 0;
  const pageSize = Number(args.perPage ?? args.first);
  const items = Number.isFinite(pageSize) && pageSize > 0 ? pageSize : undefined;
  const isList = getNullableType(field.type) instanceof GraphQLList;
  const inConnection = getNamedType(type).name.endsWith("Connection");
  const multiplier = items ?? (isList && !inConnection ? ASSUMED_LIST_SIZE : 1);
  return 1 + multiplier * childComplexity;
};

/** The arguments of an operation about to run, as envelop hands them to a plugin. */
interface OperationArgs {
  schema: GraphQLSchema;
  document: DocumentNode;
  variableValues?: Record<string, unknown> | null;
  operationName?: string | null;
}

/**
 * The cost limit, checked as an operation is about to run rather than as a
 * validation rule: yoga keeps a document's validation result by the document
 * alone, so a rule that reads the variables would be skipped when a cached
 * document comes again with larger page sizes (`perPage: $n`). An operation
 * without variables always costs the same, so its cost is kept beside its
 * document; one with variables is estimated at every run, a pass over the
 * document that costs a few microseconds. Like the validation rules it
 * replaces, it refuses before the role check and before any resolver.
 */
function costPlugin(maxCost: number): Plugin {
  const fixedCosts = new WeakMap<DocumentNode, Map<string, number>>();
  function costOf(args: OperationArgs): number {
    const operation = args.operationName ?? "";
    const hasVariables = args.document.definitions.some((definition) =>
      definition.kind === Kind.OPERATION_DEFINITION &&
      (definition.variableDefinitions?.length ?? 0) > 0
    );
    const known = hasVariables ? undefined : fixedCosts.get(args.document)?.get(operation);
    if (known !== undefined) return known;
    const cost = getComplexity({
      schema: args.schema,
      query: args.document,
      variables: args.variableValues ?? {},
      ...(args.operationName ? { operationName: args.operationName } : {}),
      estimators: [listAwareEstimator],
    });
    if (!hasVariables) {
      const costs = fixedCosts.get(args.document) ?? new Map<string, number>();
      costs.set(operation, cost);
      fixedCosts.set(args.document, costs);
    }
    return cost;
  }
  const guard = (args: OperationArgs, stop: (result: { errors: GraphQLError[] }) => void) => {
    let cost: number;
    try {
      cost = costOf(args);
    } catch {
      // Variables that do not fit the operation: execution refuses them with its own words.
      return;
    }
    if (cost <= maxCost) return;
    stop({
      errors: [
        new GraphQLError(
          `Cannot run the operation: its estimated cost ${cost} exceeds ${maxCost}; ` +
            "ask for fewer items or fewer nested lists",
          { extensions: { code: "MAX_COST", http: { status: 400 } } },
        ),
      ],
    });
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      guard(args as OperationArgs, setResultAndStopExecution);
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      guard(args as OperationArgs, setResultAndStopExecution);
    },
  };
}

function coded(code: string, error: GraphQLError): GraphQLError {
  // armor words the limit ("Query depth limit of 8 exceeded, found 9."); the code is ours.
  return new GraphQLError(error.message.replace(/^Syntax Error: /, ""), {
    extensions: { code, http: { status: 400 } },
  });
}

function reportAs(code: string): GraphQLArmorRejectCallback {
  return (context: ValidationContext | null, error: GraphQLError) => {
    // The token limit rejects while parsing, without a validation context: it throws.
    if (!context) throw coded(code, error);
    context.reportError(coded(code, error));
  };
}

function refusedBy(code: string) {
  return { propagateOnRejection: false, onReject: [reportAs(code)] };
}

/**
 * The plugins that enforce limits: GraphQL Armor's depth, alias, token and
 * directive limits and its field-suggestion mask, a cost limit from
 * graphql-query-complexity that knows lists are expensive (armor's own cost
 * limit weighs every object field alike), and the bounds of introspection
 * (see introspection.ts), or its refusal when options.introspection is off.
 * Armor's depth limit leaves `__schema` to that rule, as its cost limit
 * would; `__type` meets the depth limit too.
 */
export function limitPlugins(
  limits: OperationLimits,
  options: { introspection: boolean },
): Plugin[] {
  const armor = EnvelopArmorPlugin<Record<string, unknown>>({
    maxDepth: { n: limits.maxDepth, ignoreIntrospection: true, ...refusedBy("MAX_DEPTH") },
    maxAliases: { n: limits.maxAliases, ...refusedBy("MAX_ALIASES") },
    maxTokens: { n: limits.maxTokens, ...refusedBy("MAX_TOKENS") },
    maxDirectives: { n: limits.maxDirectives, ...refusedBy("MAX_DIRECTIVES") },
    costLimit: { enabled: false },
    blockFieldSuggestion: { enabled: !limits.fieldSuggestions },
  });
  return [
    armor as Plugin,
    costPlugin(limits.maxCost),
    introspectionPlugin({ enabled: options.introspection }),
  ];
}
