import { freePort } from "./sandbox.ts";

/**
 * Test helper: a TCP proxy in front of a real server (RabbitMQ, PostgreSQL)
 * that a test can open, cut and stall, to play an outage without touching the
 * server itself.
 */
export class TcpProxy {
  readonly port: number;
  /** While true, bytes from the server are dropped: the server seems to stop answering. */
  stalled = false;
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
          let server: Deno.Conn;
          try {
            server = await Deno.connect(this.#target);
          } catch {
            client.close();
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
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) break;
        if (fromServer && this.stalled) continue;
        let written = 0;
        while (written < n) written += await to.write(buffer.subarray(written, n));
      }
    } catch {
      // Cut.
    }
    for (const conn of [from, to]) {
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
