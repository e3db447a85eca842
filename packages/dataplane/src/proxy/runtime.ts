import net from "node:net";
import { type Listener, type ProxyConfig, listenerKey } from "./config";
import { type ClientConnection, type HttpHooks, serveHttp } from "./http";
import { ListenerState } from "./listener-state";
import { type TcpHooks, handleConnection } from "./tcp";

/**
 * A worker's listeners (issue 14 §1, §5): one server per listener, kept across configs. `apply`
 * takes a whole config: a listener that stays swaps its pools in place (no socket is touched, no
 * request in flight fails), a new one starts listening, a removed one stops accepting and lets its
 * connections finish (then, after a grace, closes what is left).
 */

export type RuntimeHooks = HttpHooks & TcpHooks;

export interface ListenError {
  listener: string;
  error: string;
}

interface Running {
  state: ListenerState;
  server: net.Server;
  sockets: Set<net.Socket>;
  /** An HTTP listener's client connections, told to stop taking requests when it is removed. */
  clients: Set<ClientConnection>;
  /** What the server was made with (a change re-creates it). */
  shape: string;
}

export interface ProxyRuntimeOptions {
  hooks: RuntimeHooks;
  /** How long a removed listener's connections may take to finish (ms). */
  removeGraceMs?: number;
}

/** A listener whose kind changes is made again; anything else applies to its open connections. */
const shapeOf = (l: Listener) => l.kind;

export function createProxyRuntime(options: ProxyRuntimeOptions) {
  const running = new Map<string, Running>();
  const graceMs = options.removeGraceMs ?? 30_000;

  function createServer(state: ListenerState, sockets: Set<net.Socket>, clients: Set<ClientConnection>): net.Server {
    const l = state.config;
    const track = (socket: net.Socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
    };
    if (l.kind === "tcp") {
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
        track(socket);
        handleConnection(state, socket, options.hooks);
      });
      return server;
    }
    // Half-open allowed: a client that sends its last request and shuts its side still gets the answer.
    return net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      track(socket);
      const client = serveHttp(state, socket, options.hooks);
      clients.add(client);
      socket.once("close", () => clients.delete(client));
    });
  }

  /**
   * Listens, trying again for a while when the address is in use: a proxy restarted after a crash
   * finds its predecessor's workers still holding the sockets for a moment as they exit.
   */
  async function listen(server: net.Server, l: Listener): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await listenOnce(server, l);
      } catch (e) {
        if ((e as { code?: string }).code !== "EADDRINUSE" || attempt >= 20) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  function listenOnce(server: net.Server, l: Listener): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => {
        server.off("listening", onListening);
        reject(e);
      };
      const onListening = () => {
        server.off("error", onError);
        resolve();
      };
      server.once("error", onError);
      server.once("listening", onListening);
      // "::" is a v6 service's host port: IPv6 only, so a v4 service may hold the same port on 0.0.0.0.
      server.listen({ host: l.address, port: l.port, ipv6Only: l.address === "::", backlog: 4096 });
    });
  }

  /** Stops accepting; idle keep-alive connections close now, busy ones when done or after the grace. */
  function retire(r: Running): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        for (const s of r.sockets) s.destroy();
      }, graceMs);
      timer.unref();
      r.server.close(() => {
        clearTimeout(timer);
        void r.state.close().then(resolve);
      });
      for (const c of r.clients) c.retire();
    });
  }

  async function apply(config: ProxyConfig): Promise<ListenError[]> {
    const errors: ListenError[] = [];
    const wanted = new Map(config.listeners.map((l) => [listenerKey(l), l]));
    const retiring: Promise<void>[] = [];
    for (const [key, r] of running) {
      const next = wanted.get(key);
      if (next && shapeOf(next) === r.shape) continue;
      running.delete(key);
      retiring.push(retire(r));
    }
    // A re-created listener must be closed before its port is bound again.
    await Promise.all(retiring);
    for (const [key, l] of wanted) {
      const r = running.get(key);
      if (r) {
        // Timeouts and limits are read from the state's config by every connection: nothing else to set.
        r.state.apply(l);
        continue;
      }
      const state = new ListenerState(l);
      const sockets = new Set<net.Socket>();
      const clients = new Set<ClientConnection>();
      const server = createServer(state, sockets, clients);
      try {
        await listen(server, l);
        running.set(key, { state, server, sockets, clients, shape: shapeOf(l) });
      } catch (e) {
        await state.close();
        errors.push({ listener: key, error: (e as Error).message });
      }
    }
    return errors;
  }

  return {
    apply,
    /** Passive health's ejections, per listener (the primary's word, for every worker). */
    setEjected(byListener: ReadonlyMap<string, ReadonlySet<string>>): void {
      for (const [key, r] of running) r.state.setEjected(byListener.get(key) ?? new Set());
    },
    listeners: () => [...running.values()].map((r) => r.state),
    /** Stops every listener; connections get `graceMs` to finish. */
    async close(): Promise<void> {
      const all = [...running.values()];
      running.clear();
      await Promise.all(all.map(retire));
    },
  };
}

export type ProxyRuntime = ReturnType<typeof createProxyRuntime>;
