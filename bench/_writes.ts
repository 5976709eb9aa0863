/**
 * Scenario 2, writes: seed-style mutations (which wait until the read side
 * shows their effect) and submit mutations (which answer once the command is
 * queued) at concurrency 50; the workers' drain rate of a pre-filled backlog
 * with one worker and with two; and the baselines: raw amqplib
 * publish-with-confirm and consume-with-ack of the same messages on a scratch
 * queue, raw batched inserts of the same rows, and both together.
 */
import amqp from "amqplib";
import type { Channel, ConfirmChannel, ConsumeMessage } from "amqplib";
import postgres from "postgres";
import {
  COMMAND_SCHEMA_VERSION,
  type CommandEnvelope,
  encodeCommandMessage,
  topology,
} from "@catalog/proto";
import { type AmqpMessage, amqpUserOf, publishConfirmed } from "@catalog/runtime";
import { closedLoop, sleep } from "./_load.ts";
import { type Catalog, type Measurement, measurementOf } from "./_reads.ts";
import { postGraphql, type System, waitVisible } from "./_system.ts";

/** One drain of a backlog, by the services or by a baseline. */
export interface Rate {
  name: string;
  count: number;
  seconds: number;
  perSecond: number;
}

/** What the writes scenario measured. */
export interface WriteFigures {
  mutations: Measurement[];
  /** The no-wait submit rate at concurrency 50: the "measured maximum" of scenario 3. */
  maxSubmitPerSecond: number;
  drains: (Rate & { workers: number; wallSeconds: number })[];
  baselines: Rate[];
}

const CONCURRENCY = 50;

function rateOf(name: string, count: number, seconds: number): Rate {
  return {
    name,
    count,
    seconds: Number(seconds.toFixed(2)),
    perSecond: Number((seconds > 0 ? count / seconds : 0).toFixed(0)),
  };
}

/** The UpdateProduct envelopes the command service would publish for `count` updates. */
export function updateEnvelopes(productIds: string[], count: number, tag: string) {
  return Array.from({ length: count }, (_, index): CommandEnvelope => {
    const commandId = crypto.randomUUID();
    return {
      schemaVersion: COMMAND_SCHEMA_VERSION,
      commandId,
      type: "UpdateProduct",
      aggregateType: "product",
      aggregateId: productIds[index % productIds.length]!,
      payload: {
        id: productIds[index % productIds.length]!,
        name: `${tag} ${index}`,
        price: (((index % 99_999) + 1) / 100).toFixed(2),
      },
      issuedAt: new Date().toISOString(),
      actor: "bench",
      correlationId: commandId,
    };
  });
}

/**
 * Publishes messages with publisher confirms (the runtime's publishConfirmed()),
 * at most `window` unconfirmed at a time.
 */
async function publishWindowed(
  channel: ConfirmChannel,
  messages: AmqpMessage[],
  window: number,
): Promise<void> {
  let next = 0;
  async function lane(): Promise<void> {
    while (next < messages.length) await publishConfirmed(channel, messages[next++]!);
  }
  await Promise.all(Array.from({ length: window }, lane));
}

/**
 * The messages the command service publishes for envelopes: to `exchange`
 * (with each command's type as routing key, unless given one), as RabbitMQ
 * user `userId`, whom the workers take commands from.
 */
function commandMessages(
  envelopes: CommandEnvelope[],
  to: { exchange: string; routingKey?: string; userId: string },
) {
  return envelopes.map((envelope) => {
    const { body, properties } = encodeCommandMessage(envelope, "catalog-command");
    return {
      exchange: to.exchange,
      routingKey: to.routingKey ?? envelope.type,
      content: body,
      properties: { ...properties, userId: to.userId },
    };
  });
}

async function countHandled(write: postgres.Sql, ids: string[]): Promise<number> {
  const [row] = await write<{ n: number }[]>`
    select count(*)::int as n from commands where command_id = any(${ids}::uuid[])`;
  return row?.n ?? 0;
}

/**
 * Stops every worker, publishes `count` UpdateProduct envelopes as the command
 * service does (to catalog.commands, with its properties), starts `workers`
 * workers and waits until all are handled; the rate is over the span of the
 * write database's handled_at, first to last.
 */
async function drain(
  system: System,
  catalog: Catalog,
  workers: number,
  count: number,
): Promise<Rate & { workers: number; wallSeconds: number }> {
  const { stack, write } = system;
  await Promise.all(stack.workers.map((worker) => stack.stop(worker)));
  const envelopes = updateEnvelopes(catalog.productIds, count, `drain${workers}`);
  const connection = await amqp.connect(system.sandbox.env.AMQP_URL);
  try {
    const channel = await connection.createConfirmChannel();
    const messages = commandMessages(envelopes, {
      exchange: topology.commandsExchange,
      userId: amqpUserOf(system.sandbox.env.AMQP_URL),
    });
    await publishWindowed(channel, messages, 500);
  } finally {
    await connection.close();
  }
  system.accepted.count += count;
  const ids = envelopes.map((envelope) => envelope.commandId);
  const started = performance.now();
  await Promise.all(stack.workers.slice(0, workers).map((worker) => stack.start(worker)));
  const deadline = Date.now() + 300_000;
  while (await countHandled(write, ids) < count && Date.now() < deadline) await sleep(200);
  await waitVisible(system);
  const wallSeconds = (performance.now() - started) / 1000;
  const [span] = await write<{ seconds: number; handled: number }[]>`
    select extract(epoch from max(handled_at) - min(handled_at))::float8 as seconds,
      count(*)::int as handled
    from commands where command_id = any(${ids}::uuid[])`;
  return {
    ...rateOf(
      `${workers} worker${workers === 1 ? "" : "s"}, ${count} queued UpdateProduct`,
      span?.handled ?? 0,
      span?.seconds ?? 0,
    ),
    workers,
    wallSeconds: Number(wallSeconds.toFixed(2)),
  };
}

/** The rows the worker writes for one applied update, without its rules or projection. */
function rowsOf(envelope: CommandEnvelope, version: number) {
  const now = new Date();
  return {
    command: {
      command_id: envelope.commandId,
      type: envelope.type,
      aggregate_id: envelope.aggregateId,
      status: "APPLIED",
      envelope: envelope as unknown as postgres.JSONValue,
      accepted_at: envelope.issuedAt,
      handled_at: now,
    },
    event: {
      event_id: crypto.randomUUID(),
      type: "ProductUpdated",
      aggregate_type: "product",
      aggregate_id: envelope.aggregateId,
      aggregate_version: version,
      data: envelope.payload as unknown as postgres.JSONValue,
      command_id: envelope.commandId,
      occurred_at: now,
    },
    view: {
      command_id: envelope.commandId,
      type: envelope.type,
      aggregate_id: envelope.aggregateId,
      status: "APPLIED",
      accepted_at: envelope.issuedAt,
      handled_at: now,
    },
  };
}

/** Scratch copies of the tables the worker writes, truncated for each use. */
async function scratchTables(system: System): Promise<void> {
  await system.write`create table if not exists bench_commands (like commands including all)`;
  await system.write`create table if not exists bench_events (like events including all)`;
  await system
    .read`create table if not exists bench_command_view (like command_view including all)`;
  await system.write`truncate bench_commands, bench_events`;
  await system.read`truncate bench_command_view`;
}

/** Inserts the rows of these envelopes: write-DB rows in one transaction, read-DB rows in another. */
async function insertBatch(
  write: postgres.Sql,
  read: postgres.Sql,
  envelopes: CommandEnvelope[],
  versions: Map<string, number>,
): Promise<void> {
  const rows = envelopes.map((envelope) => {
    const version = (versions.get(envelope.aggregateId) ?? 0) + 1;
    versions.set(envelope.aggregateId, version);
    return rowsOf(envelope, version);
  });
  await write.begin(async (tx) => {
    await tx`insert into bench_events ${tx(rows.map((row) => row.event))}`;
    await tx`insert into bench_commands ${tx(rows.map((row) => row.command))}`;
  });
  await read.begin(async (tx) => {
    await tx`insert into bench_command_view ${tx(rows.map((row) => row.view))}`;
  });
}

const BATCH = 500;

async function baselines(system: System, catalog: Catalog, count: number): Promise<Rate[]> {
  const rates: Rate[] = [];
  const queue = "bench.scratch";
  const envelopes = updateEnvelopes(catalog.productIds, count, "baseline");
  const messages = commandMessages(envelopes, {
    exchange: "",
    routingKey: queue,
    userId: amqpUserOf(system.sandbox.env.AMQP_URL),
  });
  const write = postgres(system.sandbox.env.WRITE_DATABASE_URL, { max: 2, onnotice: () => {} });
  const read = postgres(system.sandbox.env.READ_DATABASE_URL, { max: 2, onnotice: () => {} });
  const connection = await amqp.connect(system.sandbox.env.AMQP_URL);
  try {
    const setup = await connection.createChannel();
    // Like a partition queue: durable and quorum; the messages are persistent.
    await setup.assertQueue(queue, { durable: true, arguments: { "x-queue-type": "quorum" } });
    await setup.purgeQueue(queue);
    const confirm = await connection.createConfirmChannel();

    let started = performance.now();
    await publishWindowed(confirm, messages, CONCURRENCY);
    rates.push(rateOf(
      `amqplib publish with confirm, ${CONCURRENCY} unconfirmed at most, quorum queue`,
      count,
      (performance.now() - started) / 1000,
    ));

    rates.push(
      await consume(connection, queue, count, 256, (batch, channel) => {
        for (const message of batch) channel.ack(message);
        return Promise.resolve();
      }, "amqplib consume with ack (each), prefetch 256"),
    );

    await scratchTables(system);
    const versions = new Map<string, number>();
    started = performance.now();
    for (let offset = 0; offset < count; offset += BATCH) {
      await insertBatch(write, read, envelopes.slice(offset, offset + BATCH), versions);
    }
    rates.push(rateOf(
      `postgres.js batched inserts of the same rows (event + command; command view), ${BATCH} a batch`,
      count,
      (performance.now() - started) / 1000,
    ));

    await scratchTables(system);
    versions.clear();
    await publishWindowed(confirm, messages, 500);
    rates.push(
      await consume(connection, queue, count, 2 * BATCH, async (batch, channel) => {
        const parsed = batch.map((message) => JSON.parse(message.content.toString()));
        await insertBatch(write, read, parsed, versions);
        channel.ack(batch.at(-1)!, true);
      }, `amqplib consume + postgres.js batched inserts, then ack (up to ${BATCH} a batch)`),
    );
    await setup.deleteQueue(queue);
  } finally {
    await connection.close();
    await write.end({ timeout: 2 });
    await read.end({ timeout: 2 });
  }
  return rates;
}

/**
 * Consumes `count` messages, handing them to handle() in batches of what has
 * arrived (at most BATCH), one batch at a time; the rate is from the first
 * delivery to the last batch handled.
 */
async function consume(
  connection: amqp.ChannelModel,
  queue: string,
  count: number,
  prefetch: number,
  handle: (batch: ConsumeMessage[], channel: Channel) => Promise<void>,
  name: string,
): Promise<Rate> {
  const channel = await connection.createChannel();
  await channel.prefetch(prefetch);
  let buffered: ConsumeMessage[] = [];
  let handled = 0;
  let first = 0;
  let busy = false;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => done = resolve);
  const pump = async () => {
    if (busy) return;
    busy = true;
    while (buffered.length > 0) {
      const batch = buffered.slice(0, BATCH);
      buffered = buffered.slice(batch.length);
      await handle(batch, channel);
      handled += batch.length;
    }
    busy = false;
    if (handled >= count) done();
  };
  const { consumerTag } = await channel.consume(queue, (message) => {
    if (!message) return;
    if (first === 0) first = performance.now();
    buffered.push(message);
    void pump();
  });
  await finished;
  const seconds = (performance.now() - first) / 1000;
  await channel.cancel(consumerTag);
  await channel.close();
  return rateOf(name, handled, seconds);
}

/** Runs scenario 2. The stack's first worker runs; the others are stopped. */
export async function runWrites(system: System, catalog: Catalog): Promise<WriteFigures> {
  const url = system.stack.graphqlUrl;
  const ids = catalog.productIds;
  const warmUpMs = Math.max(200, Math.round(1500 * system.scale));
  const durationMs = Math.max(500, Math.round(5000 * system.scale));
  const closed = (task: (index: number) => Promise<unknown>) =>
    closedLoop(task, { concurrency: CONCURRENCY, warmUpMs, durationMs });
  const mode = `closed loop, concurrency ${CONCURRENCY}`;
  const update = (i: number, tag: string) => ({
    input: { id: ids[i % ids.length], name: `${tag} ${i}`, price: ((i % 99_999) + 1) / 100 },
  });
  const mutations: Measurement[] = [];
  const say = (m: Measurement) =>
    system.log(
      `  ${m.name}: ${m.perSecond}/s, p50 ${m.latencyMs.p50} ms, p99 ${m.latencyMs.p99} ms` +
        (Object.keys(m.errors).length ? `, errors ${JSON.stringify(m.errors)}` : ""),
    );

  system.log("Writes: seed-style updateProduct, waiting for read-your-writes");
  let sent = 0;
  mutations.push(measurementOf(
    "updateProduct (waits until readable)",
    mode,
    await closed(async (i) => {
      sent++;
      await postGraphql(
        url,
        "mutation ($input: UpdateProductInput!) { updateProduct(input: $input) { id version } }",
        update(i, "wait"),
      );
    }),
  ));
  say(mutations.at(-1)!);
  system.log("Writes: submitUpdateProduct, answering once queued");
  mutations.push(measurementOf(
    "submitUpdateProduct (answers once queued)",
    mode,
    await closed(async (i) => {
      sent++;
      await postGraphql(
        url,
        `mutation ($input: UpdateProductInput!) {
          submitUpdateProduct(input: $input) { commandId }
        }`,
        update(i, "submit"),
      );
    }),
  ));
  say(mutations.at(-1)!);
  // Every request sent was accepted (errors are counted, and there should be none).
  system.accepted.count += sent;
  system.log("Writes: waiting for the backlog to drain");
  await waitVisible(system);

  const count = Math.max(200, Math.round(20_000 * system.scale));
  const drains = [];
  for (const workers of [1, 2]) {
    system.log(`Writes: drain of ${count} queued commands by ${workers} worker(s)`);
    drains.push(await drain(system, catalog, workers, count));
    system.log(`  ${drains.at(-1)!.perSecond}/s over ${drains.at(-1)!.seconds} s`);
  }
  // Back to one worker for what follows.
  for (const worker of system.stack.workers.slice(1)) await system.stack.stop(worker);

  system.log(`Writes: baselines with ${count} messages on a scratch queue and scratch tables`);
  const rates = await baselines(system, catalog, count);
  for (const rate of rates) system.log(`  ${rate.name}: ${rate.perSecond}/s`);
  return {
    mutations,
    maxSubmitPerSecond: mutations[1]!.perSecond,
    drains,
    baselines: rates,
  };
}
