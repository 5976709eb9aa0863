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

/** Posts one GraphQL operation and returns the parsed response, whatever its errors. */
export async function graphql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
): Promise<GraphQLResult<T>> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`Cannot read the GraphQL answer: ${response.status} ${text.slice(0, 200)}`);
  }
}
