import { z } from "zod";
import { DEVELOPMENT_JWT_SECRET } from "./auth.ts";
import { amqpUserOf } from "./amqp.ts";
import { ConfigError, parseEnv, unsetIfEmpty } from "./env.ts";

/**
 * `CATALOG_ENV=production`: every service refuses to start with a default or
 * empty credential, naming each one, so that nothing reaches production on
 * the development settings by accident. Development (the default) keeps the
 * defaults, which `deno task dev` and the tests rely on.
 */

/** Where a service runs. */
export type CatalogEnv = "development" | "production";

/** CATALOG_ENV, `development` unless set to `production`. */
export function catalogEnvOf(env: Record<string, string | undefined>): CatalogEnv {
  return parseEnv("catalog", {
    CATALOG_ENV: z.preprocess(
      unsetIfEmpty,
      z.enum(["development", "production"], { error: "Must be development or production" })
        .default("development"),
    ),
  }, env).CATALOG_ENV;
}

/** The settings production mode checks; a service names only those it reads. */
export type ProductionCheck =
  | { kind: "amqp"; variable: string; url: string }
  | { kind: "postgres"; variable: string; url: string }
  | { kind: "jwt"; secret: string; jwksUrl?: string }
  | { kind: "set"; variable: string; value: string | undefined; why: string };

function problemOf(check: ProductionCheck): string | undefined {
  switch (check.kind) {
    case "amqp": {
      if (amqpUserOf(check.url) === "guest") {
        return `${check.variable} connects as RabbitMQ's default user "guest"; ` +
          "give each service its own user (docs/operations.md)";
      }
      if (!new URL(check.url).password) return `${check.variable} has no password`;
      return undefined;
    }
    case "postgres": {
      const url = new URL(check.url);
      if (!url.password) {
        return `${check.variable} has no password (the development default relies on trust authentication)`;
      }
      if (decodeURIComponent(url.username) === "postgres") {
        return `${check.variable} connects as the superuser "postgres"; use a role of the catalog's own`;
      }
      return undefined;
    }
    case "jwt":
      if (check.jwksUrl) return undefined;
      return check.secret === DEVELOPMENT_JWT_SECRET
        ? "AUTH_JWT_SECRET is unset: tokens would verify with the public development secret; " +
          "set AUTH_JWKS_URL (with AUTH_ISSUER and AUTH_AUDIENCE) or a secret of your own"
        : undefined;
    case "set":
      return check.value?.trim() ? undefined : `${check.variable} is unset: ${check.why}`;
  }
}

/**
 * In production mode, refuses the defaults among checks.
 *
 * @throws {ConfigError} naming every problem found, when env says production.
 */
export function refuseDevelopmentDefaults(
  service: string,
  env: Record<string, string | undefined>,
  checks: ProductionCheck[],
): void {
  if (catalogEnvOf(env) !== "production") return;
  const problems = checks.map(problemOf).filter((problem) => problem !== undefined);
  if (problems.length > 0) {
    throw new ConfigError(
      `Cannot start the ${service} in production mode (CATALOG_ENV=production): ${
        problems.join("; ")
      }`,
    );
  }
}
