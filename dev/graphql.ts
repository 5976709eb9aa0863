/** One GraphQL error as the gateway sends it. */
export interface GraphQLErrorBody {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; commandId?: string; [key: string]: unknown };
}

/** A GraphQL response. */
export interface GraphQLResult<T> {
  data?: T | null;
  errors?: GraphQLErrorBody[];
}

/** Options of graphql(). */
export interface GraphQLOptions {
  /** Bearer token to send (mutations need one with catalog:write). Default none. */
  token?: string;
}

/** Posts one GraphQL operation and returns the parsed response, whatever its errors. */
export async function graphql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  options: GraphQLOptions = {},
): Promise<GraphQLResult<T>> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json",
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`Cannot read the GraphQL answer: ${response.status} ${text.slice(0, 200)}`);
  }
}
