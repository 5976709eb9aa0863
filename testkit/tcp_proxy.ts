import { freePort } from "@catalog/dev";

/**
 * Test helper: a TCP proxy in front of a real server (RabbitMQ, PostgreSQL)
 * that a test can open, cut, stall or slow down, to play an outage or a
 * distant server without touching the server itself.
 */
export class TcpProxy {
  readonly port: number;
  /** While true, bytes from the server are dropped: the server seems to stop answering. */
  stalled = false;
  /**
   * While true, bytes are dropped both ways and new connections are held
   * without reaching the server, every socket left open: the client's host
   * seems to have vanished from the network, with no FIN and no reset.
   */
  vanished = false;
  /**
   * Added to every round trip, in milliseconds: bytes from the server are
   * passed on this much later, in order, as if the server were on another host.
   */
  delayMs = 0;
  readonly #target: { hostname: string; port: number };
  #listener: Deno.Listener | undefined;
  readonly #connections = new Set<Deno.Conn>();
  #pumps: Promise<void>[] = [];

  constructor(port: number, target: { hostname: string; port: number }) {
    this.port = port;
    this.#target = target;
  }

  /**
   * A proxy on a free port of 127.0.0.1 in front of the server url names (at
   * defaultPort when url has no port), not open yet, and url rewritten to go
   * through it.
   */
  static inFrontOf(url: string, defaultPort: number): { proxy: TcpProxy; url: string } {
    const target = new URL(url);
    const proxy = new TcpProxy(freePort(), {
      hostname: target.hostname,
      port: Number(target.port || defaultPort),
    });
    const viaProxy = new URL(url);
    viaProxy.hostname = "127.0.0.1";
    viaProxy.port = String(proxy.port);
    return { proxy, url: viaProxy.toString() };
  }

  /** Starts accepting connections on 127.0.0.1:port and forwarding them. */
  open(): void {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: this.port });
    this.#listener = listener;
    this.#pumps.push((async () => {
      try {
        for await (const client of listener) {
          if (this.vanished) {
            this.#connections.add(client);
            continue;
          }
          let server: Deno.TcpConn;
          try {
            server = await Deno.connect(this.#target);
          } catch {
            client.close();
            continue;
          }
          try {
            // Pass small writes on at once, as the client and server wrote them:
            // Nagle's algorithm would hold a pipelined request's answers back.
            client.setNoDelay(true);
            server.setNoDelay(true);
          } catch {
            // One side is gone already; accept the next client all the same.
            closeQuietly(client);
            closeQuietly(server);
            continue;
          }
          this.#connections.add(client);
          this.#connections.add(server);
          this.#pumps.push(this.#pump(client, server, false), this.#pump(server, client, true));
        }
      } catch {
        // The listener was closed.
      }
    })());
  }

  /** Stops listening and cuts every proxied connection. */
  async cut(): Promise<void> {
    this.#listener?.close();
    this.#listener = undefined;
    for (const conn of this.#connections) closeQuietly(conn);
    this.#connections.clear();
    await Promise.all(this.#pumps);
    this.#pumps = [];
  }

  async #pump(from: Deno.Conn, to: Deno.Conn, fromServer: boolean): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    // Delayed chunks go out one after the other, each at its own time.
    let delayed: Promise<void> = Promise.resolve();
    const writeAll = async (bytes: Uint8Array) => {
      let written = 0;
      while (written < bytes.length) written += await to.write(bytes.subarray(written));
    };
    let endsBoth = true;
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) {
          // A vanished peer's end is not passed on: the other side hears
          // nothing, and its socket stays open until cut().
          endsBoth = !this.vanished;
          break;
        }
        if (this.vanished || (fromServer && this.stalled)) continue;
        if (!fromServer || this.delayMs <= 0) {
          await delayed;
          await writeAll(buffer.subarray(0, n));
          continue;
        }
        const chunk = buffer.slice(0, n);
        const due = performance.now() + this.delayMs;
        delayed = delayed.then(async () => {
          const wait = due - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          await writeAll(chunk);
        }).catch(() => {
          // Cut: end the reading side too.
          closeQuietly(from);
        });
      }
      await delayed;
    } catch {
      // Cut.
    }
    for (const conn of endsBoth ? [from, to] : [from]) {
      if (this.#connections.delete(conn)) closeQuietly(conn);
    }
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
