import { type Endpoint, type Picker, createPicker } from "./balancer";
import { type Listener, type ProxyMember, type Route, listenerKey, memberKey } from "./config";
import { MemberPool } from "./upstream";

/**
 * One listener's live state in a worker: its members (each with its pool of keep-alive
 * connections, for HTTP), a picker per pool, the requests or connections in flight per member,
 * and the members passive health ejected. `apply` swaps in a new config without touching the
 * listening socket or any open connection: a member that stays keeps its connections, a member
 * that leaves finishes what it carries and then closes (its pool is closed gracefully).
 */

export interface MemberRuntime {
  key: string;
  address: string;
  port: number;
  weight: number;
  state: ProxyMember["state"];
  health: ProxyMember["health"];
  /** Keep-alive connections to the member (HTTP listeners only). */
  upstream: MemberPool | null;
}

/** Whether a member may take new traffic, leaving ejection aside (isSelectable of the kernel plane, per pool). */
export function takesNewTraffic(m: Pick<ProxyMember, "state" | "weight" | "health">): boolean {
  return m.state === "active" && m.weight > 0 && m.health !== "unhealthy";
}

export class ListenerState {
  readonly key: string;
  config: Listener;
  /** Every member of every pool, by key (a member in two pools is one member, with one upstream). */
  readonly members = new Map<string, MemberRuntime>();
  readonly inflight = new Map<string, number>();
  /** Members passive health took out, as the primary said. */
  ejected: ReadonlySet<string> = new Set();
  private pickers = new Map<string, Picker>();
  private poolMembers = new Map<string, string[]>();
  private routes: Route[] = [];
  private readonly settings = () => this.config;

  constructor(config: Listener) {
    this.key = listenerKey(config);
    this.config = config;
    this.apply(config);
  }

  /** Swaps in `config` (same address and port). Returns the members that left, whose upstreams are closing. */
  apply(config: Listener): MemberRuntime[] {
    if (listenerKey(config) !== this.key) throw new Error(`listener ${this.key} cannot take the config of ${listenerKey(config)}`);
    this.config = config;
    const wanted = new Map<string, ProxyMember>();
    this.poolMembers = new Map();
    for (const [pool, members] of Object.entries(config.pools)) {
      this.poolMembers.set(pool, members.map(memberKey));
      for (const m of members) {
        // A member in two pools with two weights takes the first pool's (the console writes one).
        if (!wanted.has(memberKey(m))) wanted.set(memberKey(m), m);
      }
    }
    const left: MemberRuntime[] = [];
    for (const [key, runtime] of this.members) {
      if (wanted.has(key)) continue;
      this.members.delete(key);
      left.push(runtime);
      void runtime.upstream?.close().catch(() => undefined);
    }
    for (const [key, m] of wanted) {
      const runtime = this.members.get(key);
      if (runtime) {
        runtime.weight = m.weight;
        runtime.state = m.state;
        runtime.health = m.health;
        continue;
      }
      this.members.set(key, {
        key,
        address: m.address,
        port: m.port,
        weight: m.weight,
        state: m.state,
        health: m.health,
        upstream: config.kind === "http" ? new MemberPool(m.address, m.port, this.settings) : null,
      });
    }
    this.routes = config.routes;
    this.rebuildPickers();
    return left;
  }

  /** The members passive health ejected now (the primary's word); the pickers leave them out. */
  setEjected(keys: ReadonlySet<string>): void {
    this.ejected = keys;
    this.rebuildPickers();
  }

  private rebuildPickers(): void {
    this.pickers = new Map();
    for (const [pool, keys] of this.poolMembers) {
      const endpoints: Endpoint[] = [];
      for (const key of keys) {
        const m = this.members.get(key);
        if (m && takesNewTraffic(m) && !this.ejected.has(key)) endpoints.push({ key, weight: m.weight });
      }
      this.pickers.set(pool, createPicker(this.config.balance, endpoints, this.inflight));
    }
  }

  /** The pool a request goes to: the first route whose host and path prefix match, else `default`. */
  route(host: string | null, path: string): string {
    for (const r of this.routes) {
      if (r.host !== undefined && (host === null || !hostMatches(r.host, host))) continue;
      if (r.pathPrefix !== undefined && !pathMatches(r.pathPrefix, path)) continue;
      return r.pool;
    }
    return "default";
  }

  /** A member of `pool` for new traffic, or null when none can take it. */
  pick(pool: string, hashKey: string | null, exclude?: ReadonlySet<string>): MemberRuntime | null {
    const key = this.pickers.get(pool)?.pick(hashKey, exclude) ?? null;
    return key === null ? null : (this.members.get(key) ?? null);
  }

  acquire(m: MemberRuntime): void {
    this.inflight.set(m.key, (this.inflight.get(m.key) ?? 0) + 1);
  }

  release(m: MemberRuntime): void {
    const n = (this.inflight.get(m.key) ?? 1) - 1;
    if (n <= 0) this.inflight.delete(m.key);
    else this.inflight.set(m.key, n);
  }

  /** Closes every upstream (the listener was removed, or the worker stops): requests in flight finish first. */
  async close(): Promise<void> {
    await Promise.all([...this.members.values()].map((m) => m.upstream?.close().catch(() => undefined)));
  }
}

/** `*.example.com` matches any name below example.com (not example.com itself), as Envoy's wildcard domains do. */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern.startsWith("*.")) return host.length > pattern.length - 1 && host.endsWith(pattern.slice(1));
  return host === pattern;
}

/** A prefix matches whole path segments: `/api` takes `/api`, `/api/` and `/api/x`, never `/apix`. */
export function pathMatches(prefix: string, path: string): boolean {
  if (!path.startsWith(prefix)) return false;
  return prefix.endsWith("/") || path.length === prefix.length || path[prefix.length] === "/";
}
