import type { DesiredService, DesiredServices } from "../desired";
import { type Listener, type ListenerInput, ProxyConfig, listenerKey } from "./config";
import { DEFAULT_POOL } from "./settings";

/**
 * The proxy's config from what the console says this host must carry (issue 14): one listener
 * per port of each service on the proxy plane, on its VIP (and on a host port when asked), its
 * members grouped into their pools. What would make the proxy refuse the whole config (two
 * services on one host port, a member that is one of the proxy's own listeners) is left out
 * here, listener by listener, and said: one bad service never stops the others.
 */

export interface ProxyConfigProblem {
  serviceId: string;
  serviceName: string;
  problem: string;
}

export function proxyConfigFrom(desired: readonly DesiredServices[]): { config: ProxyConfig; problems: ProxyConfigProblem[] } {
  const problems: ProxyConfigProblem[] = [];
  const listeners: ListenerInput[] = [];
  const taken = new Map<string, string>();
  const services = desired.flatMap((d) => d.services.filter((s) => s.plane === "proxy").map((s) => ({ s, family: d.family })));
  for (const { s, family } of services) {
    for (const l of listenersOf(s, family)) {
      const key = listenerKey(l);
      const holder = taken.get(key);
      if (holder !== undefined) {
        problems.push({ serviceId: s.id, serviceName: s.name, problem: `${key} is already ${holder}'s: this listener is left out` });
        continue;
      }
      taken.set(key, s.name);
      listeners.push(l);
    }
  }
  // A member that is one of the proxy's listeners would loop through it.
  for (const l of listeners) {
    for (const [pool, members] of Object.entries(l.pools)) {
      l.pools[pool] = members.filter((m) => {
        const holder = taken.get(listenerKey(m));
        if (holder === undefined) return true;
        problems.push({ serviceId: l.serviceId, serviceName: l.serviceName, problem: `member ${listenerKey(m)} is a listener of this host's proxy (${holder}): it would loop, left out` });
        return false;
      });
    }
  }
  const version = Math.max(0, ...desired.map((d) => d.version));
  const parsed = ProxyConfig.safeParse({ version, listeners });
  if (parsed.success) return { config: parsed.data, problems };
  // Should not happen (each part was checked): run nothing new rather than something half-checked.
  const issue = parsed.error.issues[0]!;
  throw new Error(`the proxy's config does not hold: ${issue.path.join(".")}: ${issue.message}`);
}

function listenersOf(s: DesiredService, family: 4 | 6): ListenerInput[] {
  const settings = s.proxy!;
  const out: ListenerInput[] = [];
  for (const p of s.ports) {
    const port = settings.ports.find((x) => x.port === p.port);
    const kind = port?.kind ?? "tcp";
    const pools: Listener["pools"] = { [DEFAULT_POOL]: [] };
    for (const r of settings.routes) pools[r.pool] ??= [];
    for (const m of s.members) {
      const pool = m.pool ?? DEFAULT_POOL;
      (pools[pool] ??= []).push({ address: m.address, port: m.port ?? p.targetPort, weight: m.weight, state: m.state, health: m.health });
    }
    // A TCP listener sees no headers: hashing on one falls back to the client's address.
    const balance = kind === "tcp" && settings.balance.algorithm === "consistent-hash" ? { algorithm: "consistent-hash" as const, hashOn: { kind: "client-address" as const } } : settings.balance;
    const base = {
      serviceId: s.id,
      serviceName: s.name,
      kind,
      balance,
      pools,
      routes: kind === "http" ? settings.routes : [],
      passiveHealth: settings.passiveHealth,
      timeouts: settings.timeouts,
      limits: settings.limits,
    };
    out.push({ ...base, address: s.vip, port: p.port });
    if (port?.hostPort != null) out.push({ ...base, address: family === 4 ? "0.0.0.0" : "::", port: port.hostPort, pools: structuredClone(pools) });
  }
  return out;
}
