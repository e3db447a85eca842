import { type Belief, type DesiredServices as Desired, DesiredServices, type Layout, holdsBelief, objectsFromListing, planCleanup, planSync } from "@switchyard/dataplane";
import { type ApplyMode, createApplier } from "@switchyard/dataplane/netlink";
import { listTable } from "@switchyard/dataplane/nft";
import { proxyConfigFrom } from "@switchyard/dataplane/proxy";
import type { Clock } from "../clock";
import type { Logger } from "../log";
import { createCoalescedRunner } from "../coalesce";
import { flushUdpMemberFlows, type UdpMemberFlows } from "./conntrack";
import type { ApplyResult } from "./proxy";
import { ensureServiceRoutes } from "./routes";

/**
 * The services data plane on this host (issue 12): fetch what the console says this host must
 * program (per family), render it with @switchyard/dataplane, apply it in one kernel transaction
 * holding only what changed (a netlink batch, or `nft -f` where koffi is missing), then the VIP
 * routes and the UDP conntrack flush of members that stopped taking traffic, and report the version applied (or the error). Nothing is
 * torn down on a failure or while the console is away (HARDENING 21, 24): the last good table
 * stays, the next attempt rewrites it whole.
 */

/** How long after a sync the chains it emptied are deleted (kernels before 6.2 drop references lazily: design §9). */
export const DEFERRED_DELETE_MS = 1500;

export interface ServicesSyncDeps {
  fetchDesired(family: 4 | 6): Promise<unknown>;
  report(r: { family: 4 | 6; version: number; applyMs: number | null; error: string | null }): Promise<unknown>;
  /** Program a named namespace instead of this host's own (labs, tests). */
  netns?: string;
  layout?: Layout;
  /** netlink (koffi), nft, or auto: netlink when it loads (the default). */
  apply?: ApplyMode;
  families?: readonly (4 | 6)[];
  log: Logger;
  clock: Clock;
  /** The userspace proxy, for services on the proxy plane (issue 14); without it they are not carried here. */
  proxy?: { apply(config: ReturnType<typeof proxyConfigFrom>["config"]): Promise<ApplyResult> };
}

type Report = Parameters<ServicesSyncDeps["report"]>[0];

interface FamilyState {
  belief: Belief | null;
  desired: Desired | null;
  /** The CIDRs and VIPs the routes were last made for (null: unknown, make them). */
  routeKey: string | null;
  appliedVersion: number | null;
  deferredTimer: ReturnType<typeof setTimeout> | null;
}

/**
 * Whether a member's established UDP flows keep their DNAT (design §6): yes while it is in the
 * pool and only stopped taking NEW flows (draining, weight 0); no once it is in maintenance or
 * unhealthy (a flow to a backend that does not answer is dead), as when it is removed.
 */
const keepsUdpFlows = (m: Desired["services"][number]["members"][number]) => m.state !== "maintenance" && m.health !== "unhealthy";

/** UDP member flows of a desired state that may stay established, by a key naming VIP, port, member and target port. */
function udpFlows(desired: Desired | null): Map<string, UdpMemberFlows> {
  const out = new Map<string, UdpMemberFlows>();
  for (const s of desired?.services ?? []) {
    for (const p of s.ports) {
      if (p.protocol !== "udp") continue;
      for (const m of s.members) {
        if (!keepsUdpFlows(m)) continue;
        const flow = { vip: s.vip, port: p.port, member: m.address, targetPort: m.port ?? p.targetPort };
        out.set(`${flow.vip}/${flow.port}/${flow.member}/${flow.targetPort}`, flow);
      }
    }
  }
  return out;
}

export function createServicesSync(deps: ServicesSyncDeps) {
  const families = deps.families ?? [4, 6];
  const states = new Map<4 | 6, FamilyState>(families.map((f) => [f, { belief: null, desired: null, routeKey: null, appliedVersion: null, deferredTimer: null }]));
  const nft = { netns: deps.netns };
  const applier = createApplier({ mode: deps.apply ?? "auto", netns: deps.netns, onFallback: (reason) => deps.log.warn("services: nft instead of netlink", { reason }) });
  let checkTable = false;

  /** Syncs one family's kernel table and routes; the report waits for the proxy (the runner sends it). */
  async function syncFamily(family: 4 | 6, state: FamilyState, reports: Report[]): Promise<void> {
    const raw = await deps.fetchDesired(family);
    const parsed = DesiredServices.safeParse(raw);
    if (!parsed.success) {
      // The console sent what this agent refuses to program: keep the table, say why.
      const version = typeof (raw as { version?: unknown })?.version === "number" ? (raw as { version: number }).version : 0;
      const error = `refused the desired services: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`;
      deps.log.error("services: desired state refused", { family, error });
      reports.push({ family, version, applyMs: null, error });
      return;
    }
    const desired = parsed.data;
    if (checkTable && state.belief !== null) {
      // Someone edited or removed the table, or the host rebooted: rewrite it whole. The kernel's
      // table is read back and held against the belief (no listing after each apply: at 10,000
      // services one takes seconds).
      if (!(await holdsTable(family, state.belief))) {
        deps.log.warn("services: the table is not what this agent applied; rewriting it", { family });
        state.belief = null;
      }
      state.routeKey = null; // the routes are made again too: someone may have removed them
    }
    if (state.belief !== null && state.appliedVersion === desired.version) {
      await ensureRoutes(family, state, desired);
      // Unchanged here; the proxy is told again only when something changed (a restarted proxy gets its config from its supervisor).
      return;
    }

    const plan = planSync(state.belief, desired, { layout: deps.layout ?? "compact" });
    const t0 = deps.clock.monotonic();
    let path: string = applier.path;
    try {
      path = (await applier.apply(plan)).path;
    } catch (e) {
      state.belief = null; // the next attempt rewrites the table whole
      const error = (e as Error).message.slice(0, 1900);
      deps.log.error("services: transaction failed; the table is as it was", { family, version: desired.version, path, error });
      reports.push({ family, version: desired.version, applyMs: null, error: `${path}: ${error}` });
      return;
    }
    // Monotonic: a wall-clock step during the apply would report a negative or hour-long applyMs, which the console refuses.
    const applyMs = Math.round(deps.clock.monotonic() - t0);
    const previous = state.desired;
    state.belief = plan.belief;
    state.desired = desired;
    state.appliedVersion = desired.version;
    if (plan.deferred !== null) scheduleCleanup(family, state);

    await ensureRoutes(family, state, desired);
    // UDP flows to members removed, in maintenance or unhealthy would keep their DNAT: flush them (design §6). A drain keeps them.
    const now = udpFlows(desired);
    for (const [key, flow] of udpFlows(previous)) {
      if (now.has(key)) continue;
      const result = await flushUdpMemberFlows(flow, { netns: deps.netns }).catch((e: unknown) => ({ status: "error" as const, message: (e as Error).message }));
      if (result.status !== "flushed") deps.log.warn("services: conntrack flush not done", { family, member: flow.member, result });
    }
    reports.push({ family, version: desired.version, applyMs, error: null });
    deps.log.info("services applied", { family, version: desired.version, services: desired.services.length, applyMs, path, changed: plan.ops.length > 0 });
  }

  /** Whether the kernel holds the table `belief` stands for; a listing that cannot be read or has a shape we never write is not. */
  async function holdsTable(family: 4 | 6, belief: Belief): Promise<boolean> {
    try {
      const listing = await listTable(family, nft);
      return holdsBelief(listing === null ? null : objectsFromListing(listing, family), belief);
    } catch (e) {
      deps.log.warn("services: the table could not be read back", { family, error: (e as Error).message });
      return false;
    }
  }

  /** The routes change only with the CIDRs or the VIPs (not with a weight or a member): `ip` runs only then, or after a check. */
  async function ensureRoutes(family: 4 | 6, state: FamilyState, desired: Desired): Promise<void> {
    // The proxy's VIPs are addresses of the sink when a proxy carries them here, else not at all.
    const vips = desired.services.filter((s) => s.plane !== "proxy").map((s) => s.vip);
    const proxyVips = deps.proxy ? desired.services.filter((s) => s.plane === "proxy").map((s) => s.vip) : [];
    const key = JSON.stringify([desired.serviceCidrs, [...vips].sort(), [...proxyVips].sort()]);
    if (key === state.routeKey) return;
    const routes = await ensureServiceRoutes({ netns: deps.netns, family, serviceCidrs: desired.serviceCidrs, vips, proxyVips }).catch((e: unknown) => {
      deps.log.error("services: VIP routes not in place", { family, error: (e as Error).message });
      return null;
    });
    state.routeKey = routes ? key : null;
    for (const w of routes?.warnings ?? []) deps.log.warn("services: VIP routes", { family, warning: w });
  }

  function scheduleCleanup(family: 4 | 6, state: FamilyState) {
    if (state.deferredTimer) clearTimeout(state.deferredTimer);
    state.deferredTimer = setTimeout(() => {
      state.deferredTimer = null;
      if (state.belief === null) return;
      const cleanup = planCleanup(state.belief);
      void applier
        .apply({ family, ops: cleanup.ops, transaction: cleanup.transaction })
        .then(() => {
          state.belief = cleanup.belief;
        })
        .catch((e: unknown) => deps.log.warn("services: deleting emptied chains failed; retried with the next sync", { family, error: (e as Error).message }));
    }, DEFERRED_DELETE_MS);
    state.deferredTimer.unref?.();
  }

  /** The version of the proxy's config last applied whole (null: never, or it failed). */
  let proxyVersion: number | null = null;

  /**
   * The proxy's share (issue 14): its config from both families' desired services, applied after
   * the routes put the VIPs in place. A listener that could not listen, a service left out, or a
   * proxy that did not answer is an error in the report of that service's family.
   */
  async function syncProxy(reports: Report[]): Promise<void> {
    if (!deps.proxy) return;
    const desired = [...states.values()].flatMap((s) => (s.desired ? [s.desired] : []));
    const version = Math.max(0, ...desired.map((d) => d.version));
    if (proxyVersion === version) return;
    // Nothing changed in the kernel but the proxy is behind (it failed last time): try again, and say how it went.
    if (reports.length === 0) for (const d of desired) reports.push({ family: d.family, version: d.version, applyMs: 0, error: null });
    const problems: string[] = [];
    try {
      const { config, problems: left } = proxyConfigFrom(desired);
      for (const p of left) problems.push(`${p.serviceName}: ${p.problem}`);
      const result = await deps.proxy.apply(config);
      for (const e of result.errors) problems.push(`proxy listener ${e.listener}: ${e.error}`);
    } catch (e) {
      problems.push(`proxy: ${(e as Error).message}`);
    }
    proxyVersion = problems.length === 0 ? version : null;
    if (problems.length === 0) return;
    deps.log.error("services: the proxy does not carry everything", { problems: problems.slice(0, 5) });
    const proxied = (family: 4 | 6) => (states.get(family)?.desired?.services ?? []).some((s) => s.plane === "proxy");
    for (const r of reports) {
      if (r.error === null && proxied(r.family)) Object.assign(r, { applyMs: null, error: problems.join("; ").slice(0, 1900) });
    }
  }

  const runner = createCoalescedRunner(async () => {
    const reports: Report[] = [];
    for (const [family, state] of states) {
      await syncFamily(family, state, reports).catch((e: unknown) => deps.log.warn("services: sync failed; retried on the next change or check", { family, error: (e as Error).message }));
    }
    await syncProxy(reports);
    for (const r of reports) await deps.report(r).catch((e: unknown) => deps.log.warn("services: report not sent", { family: r.family, error: (e as Error).message }));
    checkTable = false;
  });

  return {
    /** A change was announced (or the agent started): sync every family; calls during a sync coalesce into one more. */
    wake: runner.wake,
    /** The periodic check: the table must be what was applied, and the desired version the console's. */
    check(): Promise<void> {
      checkTable = true;
      return this.wake();
    },
    idle: runner.idle,
    /** Whether the applied state holds `vip` with `protocol`/`port` (a probe reaches only what this agent programs). */
    programs(vip: string, protocol: string, port: number): boolean {
      for (const s of states.values()) {
        if (s.belief === null) continue;
        for (const svc of s.desired?.services ?? []) if (svc.vip === vip && svc.ports.some((p) => p.protocol === protocol && p.port === port)) return true;
      }
      return false;
    },
    /** How the proxy carries `vip:port` (http or tcp), or null when it does not (the kernel does, or nobody). */
    proxied(vip: string, port: number): "tcp" | "http" | null {
      for (const s of states.values()) {
        for (const svc of s.desired?.services ?? []) {
          if (svc.vip !== vip || svc.plane !== "proxy" || !svc.ports.some((p) => p.port === port && p.protocol === "tcp")) continue;
          return svc.proxy?.ports.find((p) => p.port === port)?.kind ?? "tcp";
        }
      }
      return null;
    },
    /** What was applied, per family (inventory, tests). */
    applied: () => new Map([...states].map(([f, s]) => [f, { version: s.appliedVersion, services: s.desired?.services.length ?? 0 }])),
    stop() {
      for (const s of states.values()) if (s.deferredTimer) clearTimeout(s.deferredTimer);
      applier.close();
    },
  };
}
