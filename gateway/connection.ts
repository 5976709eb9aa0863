import type { PageInfo } from "@catalog/proto";

/**
 * Relay-style connections over the query service's keyset pages. The query
 * service checks the arguments (first, the cursor, the filter) and answers
 * INVALID_ARGUMENT naming the field, which reaches the client as such; the
 * gateway only maps between the two shapes.
 */

/** A connection's sort, as the GraphQL input has it. */
export interface OrderArgs<Field extends string> {
  field: Field;
  direction: "ASC" | "DESC";
}

/** The arguments every connection takes; an explicit null means the default. */
export interface ConnectionArgs<Field extends string> {
  first?: number | null;
  after?: string | null;
  orderBy?: OrderArgs<Field> | null;
}

/** The paging part of a PageProducts or PageCategories request. */
export function pageRequestOf<Field extends string>(args: ConnectionArgs<Field>): {
  first?: number;
  after: string;
  sort: Field | "";
  direction: "ASC" | "DESC" | "";
} {
  return {
    ...(args.first == null ? {} : { first: args.first }),
    after: args.after ?? "",
    sort: args.orderBy?.field ?? "",
    direction: args.orderBy?.direction ?? "",
  };
}

/** A connection as GraphQL serves it. */
export interface Connection<Node> {
  edges: { cursor: string; node: Node }[];
  nodes: Node[];
  pageInfo: {
    hasNextPage: boolean;
    hasPreviousPage: boolean;
    startCursor: string | null;
    endCursor: string | null;
  };
  totalCount: number;
}

/** A page from the query service as a connection; its empty cursors become null. */
export function connectionOf<Node>(
  page: { edges: { cursor: string; node: Node }[]; pageInfo: PageInfo; totalCount: number },
): Connection<Node> {
  const { pageInfo } = page;
  return {
    edges: page.edges,
    nodes: page.edges.map((edge) => edge.node),
    pageInfo: {
      hasNextPage: pageInfo.hasNextPage,
      hasPreviousPage: pageInfo.hasPreviousPage,
      startCursor: pageInfo.startCursor || null,
      endCursor: pageInfo.endCursor || null,
    },
    totalCount: page.totalCount,
  };
}
