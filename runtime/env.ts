import { z } from "zod";
import { hasControlCharacters } from "@catalog/proto";

/**
 * How every service reads its environment variables: the same formats, the
 * same defaults for shared variables (AMQP_URL, the database URLs), and the same
 * error naming each unusable variable. An empty (or blank) variable counts as
 * unset.
 */

/** A configuration variable that cannot be used. */
export class ConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

/** An empty or blank variable as unset, for z.preprocess(). */
export function unsetIfEmpty(value: unknown): unknown {
  return typeof value === "string" && value.trim() === "" ? undefined : value;
}

const flag = () =>
  z.enum(["true", "false"], { error: "Must be true or false" })
    .transform((value) => value === "true");

/** `true` or `false`, fallback when unset. */
export function booleanVar(fallback: boolean) {
  return z.preprocess(unsetIfEmpty, flag().default(fallback));
}

/** `true` or `false`, undefined when unset (for defaults that depend on other settings). */
export function optionalBooleanVar() {
  return z.preprocess(unsetIfEmpty, flag().optional());
}

/** Text, trimmed, fallback when unset. */
export function textVar(fallback: string) {
  return z.preprocess(unsetIfEmpty, z.string().trim().min(1).default(fallback));
}

/** Text, trimmed, undefined when unset. */
export function optionalTextVar() {
  return z.preprocess(unsetIfEmpty, z.string().trim().optional());
}

/** A whole number from min to max. */
export function integerVar(fallback: number, range: { min: number; max: number }) {
  const outside = `Must be from ${range.min} to ${range.max}`;
  return z.preprocess(
    unsetIfEmpty,
    z.coerce.number({ error: "Must be a number" })
      .int({ error: "Must be a whole number" })
      .min(range.min, { error: outside })
      .max(range.max, { error: outside })
      .default(fallback),
  );
}

/** A TCP port; 0 asks the system for a free one. */
export function portVar(fallback: number) {
  return integerVar(fallback, { min: 0, max: 65535 });
}

/** An interface to listen on. */
export function hostVar(fallback = "0.0.0.0") {
  return z.preprocess(unsetIfEmpty, z.string().trim().min(1).default(fallback));
}

const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):\d{1,5}$/;

/** A host:port to connect to. */
export function addressVar(fallback: string) {
  return z.preprocess(
    unsetIfEmpty,
    z.string().trim().regex(HOST_PORT, { error: `Must be host:port, like ${fallback}` })
      .default(fallback),
  );
}

/** A RabbitMQ URL, the vhost in its path. */
export function amqpUrlVar(fallback: string = sharedDefaults.amqpUrl) {
  return z.preprocess(
    unsetIfEmpty,
    z.url({ protocol: /^amqps?$/, error: "Must be an amqp:// or amqps:// URL" }).default(fallback),
  );
}

/** A RabbitMQ user name; unset (undefined) unless given. */
export function rabbitmqUserVar() {
  return z.preprocess(
    unsetIfEmpty,
    z.string().trim()
      .refine((name) => !hasControlCharacters(name), {
        error: "Must be a RabbitMQ user name, without control characters",
      })
      .optional(),
  );
}

/** Options of postgresUrlVar(). */
export interface PostgresUrlOptions {
  /** Refuse a URL whose path names no database. Default false. */
  requireDatabase?: boolean;
}

/** A PostgreSQL URL, the database in its path. */
export function postgresUrlVar(fallback: string, options: PostgresUrlOptions = {}) {
  const url = z.url({
    protocol: /^postgres(ql)?$/,
    error: "Must be a postgres:// or postgresql:// URL",
  });
  const checked = options.requireDatabase
    ? url.refine(namesDatabase, { error: "Must name a database in its path" })
    : url;
  return z.preprocess(unsetIfEmpty, checked.default(fallback));
}

function namesDatabase(url: string): boolean {
  // An unreadable URL has its own issue already.
  return !URL.canParse(url) || new URL(url).pathname.length > 1;
}

/** An http:// or https:// URL, such as the RabbitMQ management API's. */
export function httpUrlVar(fallback: string) {
  return z.preprocess(
    unsetIfEmpty,
    z.url({ protocol: /^https?$/, error: "Must be an http:// or https:// URL" }).default(fallback),
  );
}

/** Defaults of the variables several services share. */
export const sharedDefaults = {
  writeDatabaseUrl: "postgres://postgres@localhost:5432/catalog_write",
  readDatabaseUrl: "postgres://postgres@localhost:5432/catalog_read",
  amqpUrl: "amqp://guest:guest@localhost:5672",
} as const;

/**
 * Reads the variables of shape from env (such as `Deno.env.toObject()`);
 * throws ConfigError naming every unusable one, as `NAME="value": why`.
 */
export function parseEnv<Shape extends z.ZodRawShape>(
  service: string,
  shape: Shape,
  env: Record<string, string | undefined>,
): z.output<z.ZodObject<Shape>> {
  const result = z.object(shape).safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return `${name}=${JSON.stringify(env[name] ?? "")}: ${issue.message}`;
    });
    throw new ConfigError(`Cannot configure the ${service}: ${problems.join("; ")}`);
  }
  return result.data;
}

/** The URL with its password hidden, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unreadable URL)";
  }
}
