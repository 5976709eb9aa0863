import type { CommandEnvelope } from "@catalog/proto";
import type { AcceptedCommand } from "../command_status.ts";
import type { Clock, CommandOutcome } from "../handle_command.ts";
import type { ProjectionReport } from "../project.ts";
import type { ConsumerMetrics } from "../metrics.ts";
import type { Limiter } from "./limiter.ts";

/**
 * What every part of one consumer (its sessions, their partitions, the
 * accepted copies, the dead letters) is given: the work to do with each
 * command and the consumer's settings, built once by startConsumer(). Only
 * `consuming` changes; everything else a part keeps is its own.
 */
export interface ConsumerContext {
  /** RabbitMQ to consume from; the vhost is the URL's path. */
  amqpUrl: string;
  /** How many unacknowledged commands RabbitMQ may hand over per partition. */
  prefetch: number;
  /** Applies one command to the write database. */
  handle: (envelope: CommandEnvelope) => Promise<CommandOutcome>;
  /** Applies commands in order in one transaction; absent, a partition's commands are handled one at a time. */
  handleMany?: (envelopes: CommandEnvelope[]) => Promise<CommandOutcome[]>;
  /** Brings the read database up to date. */
  project: () => Promise<ProjectionReport>;
  /** Makes commands readable as ACCEPTED. */
  recordAccepted: (commands: AcceptedCommand[]) => Promise<void>;
  /** Makes a dead-lettered command readable as FAILED, with the message clients see. */
  recordFailed: (envelope: CommandEnvelope, message: string) => Promise<void>;
  /**
   * Makes a refused command readable as FAILED, with the message clients
   * see, unless the read side knows the command already.
   */
  recordRefused: (envelope: CommandEnvelope, message: string) => Promise<void>;
  /** The command service's RabbitMQ user: the worker refuses commands anyone else published. */
  publisherUser: string;
  /** Stamps x-dead-lettered-at. */
  clock: Clock;
  /** Receives one line per outcome and per connection change. */
  log: (line: string) => void;
  /** Runs the partitions' steps, at most `concurrency` of them at once. */
  runLimited: Limiter;
  /**
   * How long stopping waits for RabbitMQ to answer one call (cancel, close)
   * before going on without the answer.
   */
  brokerCallMs: number;
  /** Partitions with an open consumer now: the sessions keep it, Consumer.consuming shows it. */
  consuming: Set<number>;
  /** Told of each command delivered, finished and dead-lettered. */
  metrics: ConsumerMetrics;
}
