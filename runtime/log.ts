/**
 * How a service's log lines come out: readable lines (`text`, the default in
 * development, which `deno task dev` prefixes with the service), or one JSON
 * object per line (`json`, the default in production) with the time, level,
 * service, message, and, where there is one, the trace id of the active span
 * and the command id the line is about. LOG_LEVEL drops what is below it.
 *
 * The services log through console (console.log and the `log` callbacks
 * that default to it), so installLogger() puts this formatter behind
 * console's methods once, in the composition root; the code that logs stays
 * as it is. A line that says "Cannot …" (or "cannot …") is a warning.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { ConfigError } from "./env.ts";
import { activeTraceId } from "./tracing.ts";

export const logLevels = ["debug", "info", "warn", "error"] as const;
export type LogLevel = typeof logLevels[number];
export type LogFormat = "text" | "json";

/** What the log lines of the work in hand are about. */
export interface LogFields {
  commandId?: string;
}

const fields = new AsyncLocalStorage<LogFields>();

/** Runs fn with its log lines (and those of what it starts) about `about`. */
export function withLogFields<T>(about: LogFields, fn: () => T): T {
  return fields.run({ ...fields.getStore(), ...about }, fn);
}

/** The logging settings, from LOG_LEVEL and LOG_FORMAT. */
export interface LogConfig {
  level: LogLevel;
  format: LogFormat;
}

/**
 * Reads LOG_LEVEL (debug, info, warn, error; default info) and LOG_FORMAT
 * (text, json; default json when CATALOG_ENV=production, else text).
 *
 * @throws {ConfigError} naming a variable with another value.
 */
export function parseLogConfig(env: Record<string, string | undefined>): LogConfig {
  const problems: string[] = [];
  const level = (env.LOG_LEVEL?.trim() || "info").toLowerCase();
  if (!(logLevels as readonly string[]).includes(level)) {
    problems.push(`LOG_LEVEL must be one of ${logLevels.join(", ")}, not "${env.LOG_LEVEL}"`);
  }
  const production = env.CATALOG_ENV?.trim() === "production";
  const format = (env.LOG_FORMAT?.trim() || (production ? "json" : "text")).toLowerCase();
  if (format !== "text" && format !== "json") {
    problems.push(`LOG_FORMAT must be text or json, not "${env.LOG_FORMAT}"`);
  }
  if (problems.length > 0) {
    throw new ConfigError(`Cannot configure logging: ${problems.join("; ")}`);
  }
  return { level: level as LogLevel, format: format as LogFormat };
}

/** One log line as the json format writes it. */
export interface LogRecord {
  time: string;
  level: LogLevel;
  service: string;
  message: string;
  trace_id?: string;
  command_id?: string;
}

function textOf(args: unknown[]): string {
  return args.map((arg) =>
    typeof arg === "string"
      ? arg
      : arg instanceof Error
      ? (arg.stack ?? arg.message)
      : Deno.inspect(arg, { colors: false })
  ).join(" ");
}

/** The record of one line at `level`: a "Cannot …" line is a warning at least. */
export function logRecord(service: string, level: LogLevel, message: string, now = new Date()) {
  const raised = level === "info" && /^cannot /i.test(message) ? "warn" : level;
  const record: LogRecord = { time: now.toISOString(), level: raised, service, message };
  const traceId = activeTraceId();
  if (traceId) record.trace_id = traceId;
  const commandId = fields.getStore()?.commandId;
  if (commandId) record.command_id = commandId;
  return record;
}

/** Where installLogger() writes: the original console methods. */
interface Sinks {
  out: (line: string) => void;
  err: (line: string) => void;
}

let installed = false;

/**
 * Puts the formatter behind console.debug, log, info, warn and error for the
 * rest of the process. Installs once; later calls change nothing.
 */
export function installLogger(service: string, config: LogConfig): void {
  if (installed) return;
  installed = true;
  const sinks: Sinks = {
    out: console.log.bind(console),
    err: console.error.bind(console),
  };
  const threshold = logLevels.indexOf(config.level);
  const write = (level: LogLevel, args: unknown[]) => {
    const record = logRecord(service, level, textOf(args));
    if (logLevels.indexOf(record.level) < threshold) return;
    const line = config.format === "json" ? JSON.stringify(record) : record.message;
    // Each line goes where its console method sends it, whatever its level.
    if (level === "error" || level === "warn") sinks.err(line);
    else sinks.out(line);
  };
  console.debug = (...args: unknown[]) => write("debug", args);
  console.log = (...args: unknown[]) => write("info", args);
  console.info = (...args: unknown[]) => write("info", args);
  console.warn = (...args: unknown[]) => write("warn", args);
  console.error = (...args: unknown[]) => write("error", args);
}
