import { setTimeout as sleep } from "node:timers/promises";
import { PROBE_LIMITS, type ProbeResult, ProbeTask, type ReportProbeInput } from "@switchyard/api/schemas/serviceProbe";
import { canonicalIp } from "@switchyard/api/schemas/services";
import type { WatchedFlow } from "@switchyard/dataplane/proxy";
import { z } from "zod";
import type { Logger } from "../log";
import { createCoalescedRunner } from "../coalesce";
import { netnsPathOf } from "../targets";
import { NetnsRef } from "./command";
import { type ClientCommand, type ClientOutput, runProbeClient } from "./probe-client";
import { type ConntrackFlow, type ConntrackListing, getProbeFlow, listProbeFlows } from "./probe-conntrack";

/**
 * Service probes on this host (issue 12): when the console rings ("probe"), the agent takes its
 * host's pending probes, checks each again with the console's own schema, and sends its bounded
 * connections — but only to a VIP:port this agent programs itself right now, so the console can
 * never turn a probe into a scanner of arbitrary addresses. The connections leave from the host
 * (the namespace services are programmed in) or from an attachment's namespace; conntrack, read
 * where the rules live, says which member took each.
 */

export interface ProbeRunnerDeps {
  claim(): Promise<{ probes: unknown[] }>;
  report(input: ReportProbeInput): Promise<unknown>;
  /** Whether this agent currently programs `vip` with `protocol`/`port` (the services sync's applied state). */
  programs(vip: string, protocol: string, port: number): boolean;
  /** The namespace services are programmed in (`--services netns:<name>`); the host itself when undefined. */
  servicesNetns?: string;
  netnsDir: string;
  log: Logger;
  /** For tests: where `conntrack` is looked for. */
  conntrackSearchPath?: readonly string[];
  /** How the proxy carries `vip:port` (issue 14), or null when the kernel's table does. */
  proxied?(vip: string, port: number): "tcp" | "http" | null;
  /** The proxy, which says which member it gave each connection (no conntrack entry: it does not NAT). */
  proxy?: { watch(ms: number): void; watched(): Promise<WatchedFlow[]> };
}

export class ProbeRefused extends Error {}

/** How the client is started: in the services namespace or the host for "host", by nsenter in an attachment's namespace. */
export function clientCommand(task: ProbeTask, deps: Pick<ProbeRunnerDeps, "servicesNetns" | "netnsDir">): ClientCommand {
  if (task.namespace === null) return deps.servicesNetns === undefined ? ["env", []] : ["ip", ["netns", "exec", NetnsRef.parse(deps.servicesNetns)]];
  let path: string;
  try {
    path = netnsPathOf(task.namespace.targetKind, task.namespace.target, deps.netnsDir);
  } catch (e) {
    throw new ProbeRefused(`the attachment's namespace is refused: ${(e as Error).message}`);
  }
  return ["nsenter", [`--net=${path}`, "--"]];
}

/** Counts per outcome, and per member through conntrack's flows (matched on the client's address and port). */
export function summarize(task: ProbeTask, out: ClientOutput, listing: ConntrackListing): ProbeResult {
  const count = (o: string) => out.connections.filter((c) => c.outcome === o).length;
  const answered = out.connections.filter((c) => c.outcome === "answered");
  const notes: string[] = [];
  const members = new Map<string, { address: string; port: number; count: number }>();
  let unattributed = answered.length;
  if (listing.status === "listed") {
    const byClient = new Map(listing.flows.map((f) => [`${f.src}|${f.sport}`, f]));
    unattributed = 0;
    for (const c of answered) {
      const flow = byClient.get(`${canonicalIp(c.localAddress) ?? c.localAddress}|${c.localPort}`);
      if (!flow) {
        unattributed++;
        continue;
      }
      const key = `${flow.member}|${flow.memberPort}`;
      const m = members.get(key) ?? { address: flow.member, port: flow.memberPort, count: 0 };
      m.count++;
      members.set(key, m);
    }
    if (unattributed > 0) notes.push(`${unattributed} answered connections had no conntrack entry (expired or flushed): their member is unknown`);
  } else {
    notes.push(listing.reason);
  }
  const codes = [...new Set(out.connections.filter((c) => c.outcome === "failed").map((c) => c.code ?? "error"))];
  if (codes.length) notes.push(`other failures: ${codes.slice(0, 5).join(", ")}`);
  if (out.connections.length < task.count) notes.push(`stopped after ${PROBE_LIMITS.totalMs / 1000} s: ${out.connections.length} of ${task.count} connections sent`);
  return {
    sent: out.connections.length,
    answered: answered.length,
    refused: count("refused"),
    timedOut: count("timedOut"),
    failed: count("failed"),
    members: [...members.values()].sort((a, b) => (a.address === b.address ? a.port - b.port : a.address < b.address ? -1 : 1)),
    membersKnown: listing.status === "listed",
    unattributed,
    durationMs: Math.round(out.durationMs),
    notes,
  };
}

/** One probe: checked again, sent, attributed. Throws ProbeRefused for what it will not do. */
export async function runProbe(raw: unknown, deps: ProbeRunnerDeps): Promise<ProbeResult> {
  const parsed = ProbeTask.safeParse(raw);
  if (!parsed.success) throw new ProbeRefused(`the probe is refused: ${z.prettifyError(parsed.error).slice(0, 500)}`);
  const task = parsed.data;
  if (!deps.programs(task.vip, task.protocol, task.port)) {
    throw new ProbeRefused(`the probe is refused: this agent does not program ${task.vip} ${task.port}/${task.protocol} (a probe only reaches a VIP this host carries, never another address)`);
  }
  const command = clientCommand(task, deps);
  const proxied = task.protocol === "tcp" ? (deps.proxied?.(task.vip, task.port) ?? null) : null;
  if (proxied !== null && deps.proxy) {
    // The proxy's own record of each connection's member, for the probe's window.
    deps.proxy.watch(PROBE_LIMITS.totalMs + 5000);
    const out = await runProbeClient(
      command,
      { vip: task.vip, port: task.port, protocol: proxied, count: task.count, concurrency: PROBE_LIMITS.concurrency, timeoutMs: PROBE_LIMITS.connectTimeoutMs, totalMs: PROBE_LIMITS.totalMs },
      PROBE_LIMITS.totalMs + 10_000,
    );
    const flows = await deps.proxy.watched();
    return summarize(task, out, { status: "listed", flows: flows.flatMap((f) => memberFlow(f)) });
  }
  const list = () => listProbeFlows({ vip: task.vip, port: task.port, protocol: task.protocol, netns: deps.servicesNetns, searchPath: deps.conntrackSearchPath });
  const { result: out, seen } = await listWhile(
    runProbeClient(
      command,
      { vip: task.vip, port: task.port, protocol: task.protocol, count: task.count, concurrency: PROBE_LIMITS.concurrency, timeoutMs: PROBE_LIMITS.connectTimeoutMs, totalMs: PROBE_LIMITS.totalMs },
      PROBE_LIMITS.totalMs + 10_000,
    ),
    list,
  );
  const listing = await lookUntilAttributed(list, (l) => summarize(task, out, l).unattributed, { seen });
  const get = (src: string, sport: number) => getProbeFlow({ vip: task.vip, port: task.port, protocol: task.protocol, src, sport, netns: deps.servicesNetns, searchPath: deps.conntrackSearchPath });
  return summarize(task, out, await lookUpMissing(out, listing, get));
}

/** At most this many connections the dumps missed are looked up one by one (a process each). */
export const MAX_LOOKUPS = 64;

/**
 * The answered connections no dump showed, looked up by their tuple (`getProbeFlow`), a few at a
 * time and at most `MAX_LOOKUPS`: the dumps under churn skipped 1–2 of 300 live entries in CI,
 * which a lookup finds. A connection still not found has no entry (expired or flushed).
 */
export async function lookUpMissing(out: ClientOutput, listing: ConntrackListing, get: (src: string, sport: number) => Promise<ConntrackFlow | null>, parallel = 4): Promise<ConntrackListing> {
  if (listing.status !== "listed") return listing;
  const known = new Set(listing.flows.map((f) => `${f.src}|${f.sport}`));
  const missing = out.connections
    .filter((c) => c.outcome === "answered")
    .map((c) => ({ src: canonicalIp(c.localAddress) ?? c.localAddress, sport: c.localPort }))
    .filter((c) => !known.has(`${c.src}|${c.sport}`))
    .slice(0, MAX_LOOKUPS);
  const found: ConntrackFlow[] = [];
  let next = 0;
  const worker = async () => {
    while (next < missing.length) {
      const c = missing[next++]!;
      const flow = await get(c.src, c.sport);
      if (flow) found.push(flow);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, missing.length) }, worker));
  return found.length === 0 ? listing : { status: "listed", flows: [...listing.flows, ...found] };
}

/**
 * Lists the table every `everyMs` while `work` runs. A connection's entry lives from its first
 * packet until at least 10 s after it closes (a reset leaves it in CLOSE for 10 s), and a probe
 * under load can outlast that: the first connections' entries were gone by the time the probe
 * ended and the table was read (1 of 300 unattributed, services-probe.int.test.ts). Looks at
 * least that often see every entry; the looks after the work add the last ones.
 */
export async function listWhile<T>(work: Promise<T>, list: () => Promise<ConntrackListing>, everyMs = 2000): Promise<{ result: T; seen: ConntrackFlow[] }> {
  const seen: ConntrackFlow[] = [];
  let done = false;
  const finished = work.finally(() => void (done = true));
  const looking = (async () => {
    while (!done) {
      await Promise.race([sleep(everyMs), finished.catch(() => {})]);
      if (done) return;
      const l = await list();
      if (l.status === "listed") seen.push(...l.flows);
    }
  })();
  try {
    return { result: await finished, seen };
  } finally {
    await looking;
  }
}

/**
 * Reads the table until every answered connection has its entry, at most `looks` times, and keeps
 * the union of what the looks saw. A dump of a table that changes meanwhile can miss entries or fail
 * outright (conntrack's hash is shared by every namespace on the host, so other namespaces' flows
 * churn it too); a look a moment later finds them. What no look saw stays unattributed.
 */
export async function lookUntilAttributed(
  list: () => Promise<ConntrackListing>,
  unattributed: (listing: ConntrackListing & { status: "listed" }) => number,
  options: { looks?: number; pauseMs?: number; seen?: ConntrackFlow[] } = {},
): Promise<ConntrackListing> {
  const looks = options.looks ?? 4;
  const seen = options.seen ?? [];
  // What earlier looks saw first: a later look's entry for the same connection is the fresher.
  const withSeen = (l: ConntrackListing): ConntrackListing => (seen.length === 0 ? l : l.status === "listed" ? { status: "listed", flows: [...seen, ...l.flows] } : l.transient ? { status: "listed", flows: seen } : l);
  let listing = withSeen(await list());
  for (let look = 1; look < looks; look++) {
    if (listing.status === "listed" ? unattributed(listing) === 0 : !listing.transient) break;
    await sleep(options.pauseMs ?? 100);
    const again = await list();
    if (again.status !== "listed") continue;
    listing = listing.status === "listed" ? { status: "listed", flows: [...listing.flows, ...again.flows] } : again;
  }
  return listing;
}

/** A flow the proxy watched, as conntrack would name it: the client's address and port, the member's address and port. */
function memberFlow(f: WatchedFlow): ConntrackFlow[] {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(f.member);
  const member = m ? canonicalIp(m[1]!) : null;
  const client = canonicalIp(f.client);
  return member === null || client === null ? [] : [{ src: client, sport: f.port, member, memberPort: Number(m![2]) }];
}

/** Takes and runs this host's probes, one at a time; wakes during a run coalesce into one more claim. */
export function createProbeRunner(deps: ProbeRunnerDeps) {
  async function runOne(raw: unknown): Promise<void> {
    const id = typeof (raw as { id?: unknown })?.id === "string" ? (raw as { id: string }).id : null;
    if (id === null) return deps.log.warn("probe: a task without an id was ignored");
    try {
      await deps.report({ id, status: "running" });
      const result = await runProbe(raw, deps);
      deps.log.info("probe done", { id, sent: result.sent, answered: result.answered, members: result.members.length });
      await deps.report({ id, status: "done", result });
    } catch (e) {
      const error = (e as Error).message.slice(0, 1900) || "the probe failed";
      deps.log.warn("probe failed", { id, error });
      await deps.report({ id, status: "failed", error });
    }
  }

  return createCoalescedRunner(async () => {
    const claimed = await deps.claim().catch((e: unknown) => void deps.log.warn("probe: claim failed", { error: (e as Error).message }));
    for (const p of claimed?.probes ?? []) await runOne(p).catch((e: unknown) => deps.log.warn("probe: report not sent", { error: (e as Error).message }));
  });
}
