import { type Change, grpc } from "@catalog/proto";
import {
  backoffDelay,
  type ChangeFeedClient,
  type ChangeStream,
  contextOf,
  endSpan,
  SpanKind,
  startSpan,
  tracingEnabled,
  withContext,
} from "@catalog/runtime";

/** Receives the changes of a ChangeSource. */
export interface ChangeListener {
  /** Each change, in the order the read model made them readable. Must not block. */
  change(change: Change): void;
  /** Changes were lost for good (pruned before this gateway could read them). */
  lost(error: Error): void;
  /** No more changes will come: the gateway stops. */
  end(): void;
}

/** Where the gateway's subscriptions get the read model's changes from. */
export interface ChangeSource {
  /**
   * Resolves once changes flow: every change made readable after it resolves
   * reaches the listeners. Rejects if the feed cannot start in time.
   */
  ready(): Promise<void>;
  /** Adds a listener; answers the function that removes it. */
  listen(listener: ChangeListener): () => void;
}

/** Options of GrpcChangeSource. */
export interface GrpcChangeSourceOptions {
  /** How long ready() waits for the first connection. Default 5000 ms. */
  readyTimeoutMs?: number;
  /** First wait before reconnecting; it doubles up to maxBackoffMs. Default 100 ms. */
  minBackoffMs?: number;
  /** Longest wait before reconnecting. Default 5000 ms. */
  maxBackoffMs?: number;
  /** Where to log. Default console.log. */
  log?: (line: string) => void;
}

/**
 * One WatchChanges stream per gateway process, shared by all its
 * subscriptions: it hands each change to every listener, in order. When the
 * stream breaks it reconnects with backoff, from the last position it saw, so
 * nothing is missed or repeated. Started by the first ready(), stopped by
 * close().
 */
export class GrpcChangeSource implements ChangeSource {
  readonly #client: ChangeFeedClient;
  readonly #readyTimeoutMs: number;
  readonly #minBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #log: (line: string) => void;
  readonly #listeners = new Set<ChangeListener>();
  /** The last position seen; undefined until the first stream started. */
  #position: string | undefined;
  #started = Promise.withResolvers<void>();
  #stream: ChangeStream | undefined;
  #running = false;
  #closed = false;
  /** Reconnections since the stream last started, for the backoff. */
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Why the stream is broken, while it is: said once, not at every attempt. */
  #broken: string | undefined;

  constructor(client: ChangeFeedClient, options: GrpcChangeSourceOptions = {}) {
    this.#client = client;
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 5000;
    this.#minBackoffMs = options.minBackoffMs ?? 100;
    this.#maxBackoffMs = options.maxBackoffMs ?? 5000;
    this.#log = options.log ?? console.log;
    // Nobody may be waiting on it when it fails.
    this.#started.promise.catch(() => {});
  }

  /** How many listeners there are (subscriptions of this gateway). */
  get listeners(): number {
    return this.#listeners.size;
  }

  ready(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("Cannot watch changes: the gateway stops"));
    if (!this.#running) {
      this.#running = true;
      this.#connect();
    }
    if (this.#position !== undefined) return Promise.resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `Cannot watch changes: the query service did not answer in ${this.#readyTimeoutMs} ms`,
            ),
          ),
        this.#readyTimeoutMs,
      );
    });
    return Promise.race([this.#started.promise, timeout]).finally(() => clearTimeout(timer));
  }

  listen(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Ends the stream for good, and with it every listener's subscription. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#stream?.cancel();
    this.#client.close();
    for (const listener of [...this.#listeners]) listener.end();
    this.#listeners.clear();
  }

  #connect(): void {
    if (this.#closed) return;
    const request = this.#position === undefined ? {} : { afterPosition: this.#position };
    this.#stream = this.#client.watch(request, {
      onStart: (position) => {
        this.#attempt = 0;
        if (this.#broken !== undefined) this.#log("Change feed resumed");
        this.#broken = undefined;
        if (this.#position === undefined) {
          this.#position = position;
          this.#started.resolve();
        }
      },
      onChange: (change) => {
        this.#position = change.position;
        if (this.#listeners.size === 0) return;
        // Handing a change to the subscriptions ends its command's trace.
        if (!tracingEnabled || !change.traceparent) return this.#deliver(change);
        const { span, context } = startSpan("deliver change", {
          kind: SpanKind.CONSUMER,
          parent: contextOf(change.traceparent),
          attributes: {
            "catalog.change.position": change.position,
            "catalog.change.entity_type": change.entityType,
            "catalog.change.kind": change.kind,
            "catalog.subscriptions": this.#listeners.size,
          },
        });
        withContext(context, () => this.#deliver(change));
        endSpan(span);
      },
      onEnd: (error) => this.#ended(error),
    });
  }

  #deliver(change: Change): void {
    for (const listener of this.#listeners) listener.change(change);
  }

  #ended(error: grpc.ServiceError | undefined): void {
    this.#stream = undefined;
    if (this.#closed) return;
    if (error?.code === grpc.status.OUT_OF_RANGE) {
      // What was missed cannot be had any more: every subscriber learns it,
      // and the feed starts again from now.
      this.#log(`Change feed lost changes: ${error.details}`);
      const lost = new Error(
        "Cannot deliver every change: the gateway missed changes the read side no longer keeps",
      );
      for (const listener of [...this.#listeners]) listener.lost(lost);
      this.#position = undefined;
    } else if (error && this.#broken === undefined) {
      this.#broken = error.details || error.message;
      this.#log(`Change feed interrupted (${this.#broken}); reconnecting`);
    }
    const wait = backoffDelay(this.#attempt++, {
      initialMs: this.#minBackoffMs,
      maxMs: this.#maxBackoffMs,
    });
    this.#timer = setTimeout(() => this.#connect(), wait);
  }
}
