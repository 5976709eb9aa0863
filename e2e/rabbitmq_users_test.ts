/**
 * The whole stack with the RabbitMQ users docs/operations.md gives
 * production: the command service, the worker and the dead-letter tools each
 * log in as a user of their own with exactly the documented permissions, and
 * guest has none on the vhost. Commands flow as before; a command another of
 * those users publishes is dead-lettered and never applied; a genuine dead
 * letter is replayed by the tools as the command service's.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import amqp from "amqplib";
import postgres from "postgres";
import { encodeCommandMessage, parseCommandEnvelope, topology } from "@catalog/proto";
import {
  eventually,
  managementApi,
  runDeno,
  type Sandbox,
  type TestSystem,
  withSystem,
} from "@catalog/testkit";

/** The permissions (configure, write, read) of docs/operations.md's "RabbitMQ users". */
const documented = {
  command: {
    configure: "^catalog\\.commands(\\..+)?$",
    write: "^(catalog\\.commands(\\..+)?|amq\\.default)$",
    read: "^catalog\\.commands(\\..+)?$",
  },
  worker: {
    configure: "^catalog\\.commands(\\..+)?$",
    write: "^catalog\\.commands(\\..+)?$",
    read: "^catalog\\.commands(\\..+)?$",
  },
  dlq: {
    configure: "^$",
    write: "^catalog\\.commands$",
    read: "^catalog\\.commands\\.dead-letter$",
  },
} as const;

type Role = keyof typeof documented;

interface RabbitUser {
  name: string;
  amqpUrl: string;
}

/**
 * Creates one RabbitMQ user per role with its documented permissions on the
 * sandbox's vhost, takes guest's away there, runs fn, and deletes the users.
 */
async function withServiceUsers(
  fn: (
    users: Record<Role, RabbitUser>,
    setUp: (sandbox: Sandbox) => Promise<void>,
  ) => Promise<void>,
): Promise<void> {
  const suffix = crypto.randomUUID().slice(0, 8);
  const users = {} as Record<Role, RabbitUser & { password: string }>;
  for (const role of Object.keys(documented) as Role[]) {
    users[role] = { name: `catalog-${role}-${suffix}`, password: crypto.randomUUID(), amqpUrl: "" };
  }
  let managementUrl: string | undefined;
  const setUp = async (sandbox: Sandbox) => {
    managementUrl = sandbox.managementUrl;
    const vhost = encodeURIComponent(sandbox.vhost);
    for (const role of Object.keys(documented) as Role[]) {
      const user = users[role];
      await managementApi(managementUrl, "PUT", `/users/${user.name}`, {
        password: user.password,
        tags: role === "dlq" ? "impersonator" : "",
      });
      await managementApi(
        managementUrl,
        "PUT",
        `/permissions/${vhost}/${user.name}`,
        documented[role],
      );
      const url = new URL(sandbox.env.AMQP_URL);
      url.username = user.name;
      url.password = user.password;
      user.amqpUrl = url.toString();
    }
    await managementApi(managementUrl, "DELETE", `/permissions/${vhost}/guest`);
  };
  try {
    await fn(users, setUp);
  } finally {
    if (managementUrl) {
      for (const user of Object.values(users)) {
        await managementApi(managementUrl, "DELETE", `/users/${user.name}`).catch(() => {});
      }
    }
  }
}

/** The names of the users with an open AMQP connection to the vhost. */
async function connectedUsers(sandbox: Sandbox): Promise<Set<string>> {
  const connections = await managementApi(
    sandbox.managementUrl,
    "GET",
    `/vhosts/${encodeURIComponent(sandbox.vhost)}/connections`,
  ) as { user: string }[];
  return new Set(connections.map((connection) => connection.user));
}

const submitCategory = `mutation ($name: String!) {
  submitCreateCategory(input: { name: $name }) { commandId }
}`;

async function submit(system: TestSystem, name: string): Promise<string> {
  const data = await system.data<{ submitCreateCategory: { commandId: string } }>(
    submitCategory,
    { name },
  );
  return data.submitCreateCategory.commandId;
}

async function statusOf(system: TestSystem, commandId: string) {
  const data = await system.data<{ command: { status: string; code: string | null } | null }>(
    `query ($id: ID!) { command(id: $id) { status code } }`,
    { id: commandId },
  );
  return data.command ?? { status: "UNKNOWN", code: null };
}

Deno.test("the stack runs with a RabbitMQ user per service and the documented permissions, and applies only the command service's commands", async () => {
  await withServiceUsers(async (users, setUp) => {
    await withSystem(
      async (system) => {
        const { sandbox } = system;
        // Nothing logs in as guest: each service is its own user.
        await eventually("the command service and the worker connected", async () => {
          const connected = await connectedUsers(sandbox);
          return connected.has(users.command.name) && connected.has(users.worker.name);
        });
        assert.ok(!(await connectedUsers(sandbox)).has("guest"));

        // A mutation through the gateway goes the whole way.
        const kept = await submit(system, "Kept");
        await eventually("the command applied", async () => {
          return (await statusOf(system, kept)).status === "APPLIED";
        });

        // The worker's user may write to the commands exchange, but its
        // commands are not the command service's.
        const forgedId = crypto.randomUUID();
        const forgedAggregate = crypto.randomUUID();
        const connection = await amqp.connect(users.worker.amqpUrl);
        try {
          const channel = await connection.createConfirmChannel();
          const envelope = parseCommandEnvelope(new TextEncoder().encode(JSON.stringify({
            schemaVersion: 1,
            commandId: forgedId,
            type: "CreateCategory",
            aggregateType: "category",
            aggregateId: forgedAggregate,
            payload: { name: "Forged" },
            issuedAt: new Date().toISOString(),
            actor: "mallory",
            correlationId: crypto.randomUUID(),
          })));
          const { body, properties } = encodeCommandMessage(envelope, "catalog-command");
          channel.publish(topology.commandsExchange, envelope.type, Buffer.from(body), {
            ...properties,
            userId: users.worker.name,
          });
          await channel.waitForConfirms();
        } finally {
          await connection.close();
        }
        await eventually("the forged command dead-lettered", async () => {
          return (await statusOf(system, forgedId)).status === "FAILED";
        });
        assert.equal((await statusOf(system, forgedId)).code, "DEAD_LETTERED");

        // A genuine command the database refuses (a data error, class 22)
        // is dead-lettered at once; once the cause is gone, the tools,
        // logged in as their own user, replay it as the command service's.
        const write = postgres(sandbox.env.WRITE_DATABASE_URL, { max: 1, onnotice: () => {} });
        try {
          await write.unsafe(`
            create function refuse_poison() returns trigger language plpgsql as $$
            begin
              if new.name = 'Poison' then
                raise exception 'poisoned name' using errcode = '22023';
              end if;
              return new;
            end $$;
            create trigger refuse_poison before insert on categories
              for each row execute function refuse_poison();`);
          const poisonId = await submit(system, "Poison");
          await eventually("the poisoned command dead-lettered", async () => {
            return (await statusOf(system, poisonId)).status === "FAILED";
          });

          const tools = {
            ...sandbox.env,
            AMQP_URL: users.dlq.amqpUrl,
            COMMAND_PUBLISHER_USER: users.command.name,
          };
          const listed = await runDeno(["task", "-q", "dlq:list"], tools);
          assert.equal(listed.code, 0, listed.stderr);
          assert.match(listed.stdout, new RegExp(`^${poisonId}  CreateCategory  `, "m"));
          assert.match(
            listed.stdout,
            new RegExp(`^${forgedId} .*published by RabbitMQ user "${users.worker.name}"`, "m"),
          );
          assert.match(listed.stdout, /^2 dead letters in catalog\.commands\.dead-letter$/m);

          await write.unsafe(`drop trigger refuse_poison on categories`);
          const replay = await runDeno(["task", "-q", "dlq:replay", "--", "--all"], tools);
          assert.equal(replay.code, 1, "the forged dead letter cannot be replayed");
          assert.match(replay.stdout, new RegExp(`^replayed ${poisonId}  CreateCategory  `, "m"));
          assert.match(
            replay.stderr,
            new RegExp(
              `^Cannot replay ${forgedId}: it was published by RabbitMQ user "${users.worker.name}"`,
              "m",
            ),
          );
          await eventually("the replayed command applied", async () => {
            return (await statusOf(system, poisonId)).status === "APPLIED";
          });

          const names = await write<{ name: string }[]>`select name from categories order by name`;
          assert.deepEqual(names.map(({ name }) => name), ["Kept", "Poison"]);
          const [left] = await write<{ events: number }[]>`
            select count(*)::int as events from events where aggregate_id = ${forgedAggregate}`;
          assert.equal(left?.events, 0, "the forged command left no event");
        } finally {
          await write.end({ timeout: 5 });
        }
      },
      {},
      {
        async envFor(sandbox) {
          await setUp(sandbox);
          return {};
        },
        envOf(process): Record<string, string> {
          if (process === "command") return { AMQP_URL: users.command.amqpUrl };
          if (process.startsWith("worker")) {
            return { AMQP_URL: users.worker.amqpUrl, COMMAND_PUBLISHER_USER: users.command.name };
          }
          return {};
        },
      },
    );
  });
});
