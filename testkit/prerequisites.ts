/**
 * What the test suite needs from the machine, in one place: the Debian
 * packages some tests run (Prometheus and promtool, Chromium), PostgreSQL and
 * RabbitMQ answering, RabbitMQ's plugins on and its memory alarm not left
 * raised. `deno task test` and `.ci/run` both go through ensurePrerequisites()
 * before any test runs, so a machine that lacks something is told so in the
 * first lines, with the one command that puts it in, instead of a screen of
 * failed tests.
 */
import { consistentHashPlugin } from "@catalog/proto";
import {
  enablePlugins,
  type Infrastructure,
  isLocalHost,
  managementEndpoint,
  probeAmqp,
  probePostgres,
  runCommand,
} from "@catalog/dev";

/** The Debian package of each program the tests run. */
const programs = [
  {
    program: "prometheus",
    package: "prometheus",
    why: "the alert-rule test runs a real Prometheus",
  },
  {
    program: "promtool",
    package: "prometheus",
    why: "the ops test checks the rules with promtool",
  },
  { program: "chromium", package: "chromium", why: "the GraphiQL test opens it in a browser" },
] as const;

/** Where a program is on PATH, or undefined. */
export function onPath(program: string, path = Deno.env.get("PATH") ?? ""): string | undefined {
  for (const dir of path.split(":")) {
    if (!dir) continue;
    const candidate = `${dir}/${program}`;
    try {
      if (Deno.statSync(candidate).isFile) return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** Where Debian's Chromium is, for the browser tests; throws saying how to get it. */
export function browserPath(): string {
  const found = onPath("chromium");
  if (found) return found;
  throw new Error(
    "Cannot find Chromium on PATH: install Debian's chromium package (apt-get install chromium)",
  );
}

/** Options of ensurePrerequisites(). */
export interface PrerequisiteOptions {
  /** Where PostgreSQL and RabbitMQ are expected. */
  infra: Infrastructure;
  /** Whether what is missing may be put in (packages installed, servers started). Default true. */
  install?: boolean;
  /** Where to say what is done. Default console.log. */
  log?: (line: string) => void;
}

/** What ensurePrerequisites() could not put right: each problem, and the commands that would. */
export interface Missing {
  problems: string[];
  commands: string[];
}

/** Runs a command as dev's runCommand() does, apt-get kept from asking anything. */
function run(
  command: string,
  args: string[],
  options: { daemon?: boolean } = {},
): Promise<string | undefined> {
  return runCommand(command, args, { ...options, env: { DEBIAN_FRONTEND: "noninteractive" } });
}

function isRoot(): boolean {
  try {
    return Deno.uid() === 0;
  } catch {
    return false;
  }
}

/**
 * Installs Debian packages with apt-get, keeping their daemons from starting
 * (a policy-rc.d that answers 101, where none is there already): the tests
 * want the prometheus binaries, not a server on 9090.
 */
async function aptInstall(packages: string[]): Promise<string | undefined> {
  const policy = "/usr/sbin/policy-rc.d";
  let added = false;
  try {
    Deno.statSync(policy);
  } catch {
    Deno.writeTextFileSync(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
    added = true;
  }
  try {
    return await run("apt-get", ["update", "-qq"]) ??
      await run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...packages]);
  } finally {
    if (added) Deno.removeSync(policy);
  }
}

async function until(seconds: number, ready: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (await ready()) return true;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return await ready();
}

async function managementAnswers(managementUrl: string): Promise<boolean> {
  const { base, authorization } = managementEndpoint(managementUrl);
  try {
    const response = await fetch(`${base}/api/overview`, {
      headers: { authorization },
      signal: AbortSignal.timeout(2000),
    });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

async function packagesMissing(options: PrerequisiteOptions, missing: Missing): Promise<void> {
  const log = options.log ?? console.log;
  const lacking = programs.filter(({ program }) => !onPath(program));
  if (lacking.length === 0) return;
  const packages = [...new Set(lacking.map((entry) => entry.package))];
  const what = lacking.map(({ program, why }) => `${program} (${why})`).join(", ");
  if ((options.install ?? true) && isRoot() && onPath("apt-get")) {
    log(`Installing Debian's ${packages.join(" and ")}: missing ${what}`);
    const failed = await aptInstall(packages);
    const still = programs.filter(({ program }) => !onPath(program));
    if (!failed && still.length === 0) return;
    if (failed) log(`Cannot install them: ${failed}`);
  }
  missing.problems.push(`missing on PATH: ${what}`);
  missing.commands.push(`sudo apt-get install ${packages.join(" ")}`);
}

async function postgresMissing(options: PrerequisiteOptions, missing: Missing): Promise<void> {
  const { infra } = options;
  const log = options.log ?? console.log;
  const url = infra.writeDatabaseUrl;
  let problem = await probePostgres(url);
  if (!problem) return;
  if ((options.install ?? true) && isLocalHost(url) && onPath("pg_ctlcluster")) {
    log(`Starting PostgreSQL (${problem})`);
    for (const version of [...Deno.readDirSync("/etc/postgresql")].map((entry) => entry.name)) {
      await run("pg_ctlcluster", ["--skip-systemctl-redirect", version, "main", "start"], {
        daemon: true,
      });
    }
    if (await until(30, async () => (problem = await probePostgres(url)) === undefined)) return;
  }
  missing.problems.push(`PostgreSQL does not answer at ${new URL(url).host} (${problem})`);
  missing.commands.push(
    "pg_ctlcluster <version> main start   # or: docker compose up --detach --wait",
  );
}

async function rabbitmqMissing(options: PrerequisiteOptions, missing: Missing): Promise<void> {
  const { infra } = options;
  const log = options.log ?? console.log;
  const install = options.install ?? true;
  const local = isLocalHost(infra.amqpUrl);
  const plugins = [consistentHashPlugin, "rabbitmq_management"];
  let problem = await probeAmqp(infra.amqpUrl);
  if (problem && !problem.missingPlugin && install && local && onPath("rabbitmq-server")) {
    log(`Starting RabbitMQ (${problem.message})`);
    await run("rabbitmq-server", ["-detached"], { daemon: true });
    // Started is enough here: a missing plugin is put right below.
    await until(60, async () => {
      problem = await probeAmqp(infra.amqpUrl);
      return !problem || problem.missingPlugin !== undefined;
    });
  }
  if (problem && !problem.missingPlugin) {
    missing.problems.push(
      `RabbitMQ does not answer at ${new URL(infra.amqpUrl).host} (${problem.message})`,
    );
    missing.commands.push("rabbitmq-server -detached   # or: docker compose up --detach --wait");
    return;
  }
  const managed = await managementAnswers(infra.managementUrl);
  if (!problem && managed) return;
  if (install && local) {
    log(`Enabling RabbitMQ's plugins ${plugins.join(" and ")}`);
    const failed = await enablePlugins(plugins);
    if (!failed && await until(60, () => managementAnswers(infra.managementUrl))) {
      if (!(await probeAmqp(infra.amqpUrl))) return;
    }
    if (failed) log(`Cannot enable them: ${failed}`);
  }
  missing.problems.push(
    "RabbitMQ answers, but " +
      (problem ? `its ${consistentHashPlugin} plugin is off` : "its management API does not"),
  );
  missing.commands.push(`rabbitmq-plugins enable ${plugins.join(" ")}`);
}

/**
 * A run killed while a readiness test had RabbitMQ's memory alarm raised (it
 * sets the watermark near 0 for a few seconds) leaves every publisher
 * blocked: the watermark goes back to RabbitMQ's default.
 */
async function resetMemoryAlarm(options: PrerequisiteOptions): Promise<void> {
  if (!isLocalHost(options.infra.amqpUrl) || !onPath("rabbitmqctl")) return;
  const output = await new Deno.Command("rabbitmqctl", {
    args: ["-q", "eval", "vm_memory_monitor:get_vm_memory_high_watermark()."],
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => undefined);
  const watermark = Number(new TextDecoder().decode(output?.stdout ?? new Uint8Array()).trim());
  if (!(watermark > 0 && watermark < 0.01)) return;
  (options.log ?? console.log)(`Resetting RabbitMQ's memory high watermark (${watermark}) to 0.4`);
  await run("rabbitmqctl", ["-q", "set_vm_memory_high_watermark", "0.4"]);
}

/**
 * Checks every prerequisite, putting in what it can where allowed (root with
 * apt-get for packages, this machine's servers for PostgreSQL and RabbitMQ),
 * and answers what is still missing, with the commands that would put it in.
 */
export async function ensurePrerequisites(options: PrerequisiteOptions): Promise<Missing> {
  const missing: Missing = { problems: [], commands: [] };
  await packagesMissing(options, missing);
  await postgresMissing(options, missing);
  await rabbitmqMissing(options, missing);
  if (missing.problems.length === 0) await resetMemoryAlarm(options);
  return missing;
}
