import {
  type ASTVisitor,
  type FragmentDefinitionNode,
  getNamedType,
  getNullableType,
  GraphQLError,
  GraphQLList,
  type GraphQLNamedType,
  GraphQLObjectType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
} from "graphql";
import type { Plugin } from "graphql-yoga";

/**
 * How much of the schema one operation may read. Introspection touches no
 * backend, so the data limits (the list-aware cost, the depth) do not weigh
 * it; these bounds do, and they let through the standard introspection query
 * (graphql-js's `getIntrospectionQuery()` with every option, which GraphiQL,
 * graphql-codegen, the Apollo and Relay compilers and the IDE plugins send).
 */
export const introspectionBounds = {
  /** `__schema` fields in one operation: reading the whole schema twice gains nothing. */
  schemaReads: 1,
  /** `__type(name:)` fields in one operation. */
  typeReads: 10,
  /**
   * Lists nested in one another below `__schema` or `__type`: the standard
   * query's deepest path is `types → fields → args`. Each level more
   * multiplies the answer by the schema's size, as `fields { type { fields`
   * would.
   */
  listNesting: 3,
  /** `ofType` in one path: graphql-js's standard query asks for 9 (its `typeDepth`). */
  ofTypeChain: 9,
} as const;

/** What a selection reads of the schema, measured from where it starts. */
interface Reading {
  schemaReads: number;
  typeReads: number;
  listNesting: number;
  ofTypeChain: number;
}

const nothing: Reading = { schemaReads: 0, typeReads: 0, listNesting: 0, ofTypeChain: 0 };

function combine(a: Reading, b: Reading): Reading {
  return {
    schemaReads: a.schemaReads + b.schemaReads,
    typeReads: a.typeReads + b.typeReads,
    listNesting: Math.max(a.listNesting, b.listNesting),
    ofTypeChain: Math.max(a.ofTypeChain, b.ofTypeChain),
  };
}

function isIntrospectionType(type: GraphQLNamedType | undefined): boolean {
  return type !== undefined && type.name.startsWith("__");
}

function refusal(message: string, code: string, node: OperationDefinitionNode): GraphQLError {
  return new GraphQLError(message, { nodes: [node], extensions: { code, http: { status: 400 } } });
}

/**
 * Measures each operation's reading of the schema and refuses one past
 * introspectionBounds (code MAX_INTROSPECTION), or any reading at all when
 * introspection is off (code INTROSPECTION_DISABLED). Fragments are measured
 * once each and their figures reused, so a document that spreads fragments
 * many times costs this rule no more than one that spells them out once.
 */
export function introspectionRule(options: { enabled: boolean }) {
  return (context: ValidationContext): ASTVisitor => {
    const schema = context.getSchema();
    const fragments = new Map<string, Reading>();
    const measuring = new Set<string>();

    function fragmentReading(fragment: FragmentDefinitionNode): Reading {
      const name = fragment.name.value;
      const known = fragments.get(name);
      if (known) return known;
      // A cycle is NoFragmentCyclesRule's to report; it reads nothing more here.
      if (measuring.has(name)) return nothing;
      measuring.add(name);
      const type = schema.getType(fragment.typeCondition.name.value);
      const reading = selectionReading(fragment.selectionSet, type, false);
      measuring.delete(name);
      fragments.set(name, reading);
      return reading;
    }

    function selectionReading(
      selectionSet: SelectionSetNode,
      parent: GraphQLNamedType | undefined,
      inside: boolean,
    ): Reading {
      let reading = nothing;
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FRAGMENT_SPREAD) {
          const fragment = context.getFragment(selection.name.value);
          if (fragment) reading = combine(reading, fragmentReading(fragment));
          continue;
        }
        if (selection.kind === Kind.INLINE_FRAGMENT) {
          const type = selection.typeCondition
            ? schema.getType(selection.typeCondition.name.value)
            : parent;
          reading = combine(reading, selectionReading(selection.selectionSet, type, inside));
          continue;
        }
        const name = selection.name.value;
        if (name === "__typename") continue;
        if (name === "__schema" || name === "__type") {
          const root = schema.getType(name === "__schema" ? "__Schema" : "__Type");
          const below = selection.selectionSet
            ? selectionReading(selection.selectionSet, root, true)
            : nothing;
          reading = combine(reading, {
            ...below,
            schemaReads: below.schemaReads + (name === "__schema" ? 1 : 0),
            typeReads: below.typeReads + (name === "__type" ? 1 : 0),
          });
          continue;
        }
        if (!selection.selectionSet) continue;
        const field = parent instanceof GraphQLObjectType ? parent.getFields()[name] : undefined;
        const type = field ? getNamedType(field.type) : undefined;
        const below = selectionReading(
          selection.selectionSet,
          type,
          inside || isIntrospectionType(type),
        );
        if (!inside && !isIntrospectionType(parent)) {
          // A data field: only the schema reads below it count (none is valid there).
          reading = combine(reading, {
            ...nothing,
            schemaReads: below.schemaReads,
            typeReads: below.typeReads,
          });
          continue;
        }
        const isList = field !== undefined && getNullableType(field.type) instanceof GraphQLList;
        reading = combine(reading, {
          ...below,
          listNesting: below.listNesting + (isList ? 1 : 0),
          ofTypeChain: below.ofTypeChain + (name === "ofType" ? 1 : 0),
        });
      }
      return reading;
    }

    return {
      OperationDefinition(operation) {
        const root = schema.getRootType(operation.operation) ?? undefined;
        const reading = selectionReading(operation.selectionSet, root, false);
        if (reading.schemaReads + reading.typeReads === 0) return;
        if (!options.enabled) {
          context.reportError(refusal(
            "Cannot read the schema: introspection is turned off on this gateway",
            "INTROSPECTION_DISABLED",
            operation,
          ));
          return;
        }
        const bounds = introspectionBounds;
        const excess = reading.schemaReads > bounds.schemaReads
          ? `it reads __schema ${reading.schemaReads} times, at most ${bounds.schemaReads} allowed`
          : reading.typeReads > bounds.typeReads
          ? `it reads __type ${reading.typeReads} times, at most ${bounds.typeReads} allowed`
          : reading.listNesting > bounds.listNesting
          ? `it nests ${reading.listNesting} lists of the schema, at most ${bounds.listNesting} allowed`
          : reading.ofTypeChain > bounds.ofTypeChain
          ? `it follows ofType ${reading.ofTypeChain} times, at most ${bounds.ofTypeChain} allowed`
          : undefined;
        if (excess) {
          context.reportError(
            refusal(`Cannot read the schema: ${excess}`, "MAX_INTROSPECTION", operation),
          );
        }
      },
    };
  };
}

/** The plugin that adds introspectionRule() to every validation. */
export function introspectionPlugin(options: { enabled: boolean }): Plugin {
  const rule = introspectionRule(options);
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(rule);
    },
  };
}
