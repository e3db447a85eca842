import { setImmediate as nextTurn } from "node:timers/promises";
import { CniError, type CniResult, type CniRuntime, type NetworkConfigList, type RuntimeConf, type Spawner, loadNetworkList, validateContainerId, validateIfName } from "@switchyard/cni";
import type { OperationPayload } from "@switchyard/api/schemas";
import type { IntentJournal } from "./intents";
import type { Logger } from "./log";
import { deleteSandbox, ensureSandbox, netnsPathOf, sandboxLoopbackUp } from "./targets";

/** What the console sends, re-validated with the console's own schema: the agent trusts nothing it did not check itself. */
export { OperationPayload } from "@switchyard/api/schemas";

export interface Outcome {
  outcome: "succeeded" | "failed";
  result?: Record<string, unknown>;
  error?: string;
  retryable?: boolean;
}

export interface ExecutorDeps {
  runtime: CniRuntime;
  /** Starts the sandbox's `ip` commands (the runtime has the same one for the plugins). */
  spawner: Spawner;
  netnsDir: string;
  intents: IntentJournal;
  log: Logger;
  /**
   * The runtime's plugins get their input only once this write is durable (plugin-hold.ts): an
   * attach then starts its plugin while the intent is flushed. Without it, the attach waits for
   * the write before it calls the runtime.
   */
  holdPlugins?: (durable: Promise<void>) => void;
}

/** A line for the job view. */
export type JobLine = { stream: "agent" | "plugin" | "stderr"; line: string };

/** A failure worth another attempt: the plugin or a lock timed out, or a plugin said "try again later". */
function isRetryable(error: unknown): boolean {
  if (error instanceof CniError) return error.reason === "timeout" || error.reason === "lockTimeout" || error.code === 11;
  return false;
}

function describe(error: unknown): string {
  if (error instanceof CniError) return `${error.message}${error.stderr?.trim() ? ` (stderr: ${error.stderr.trim().slice(0, 500)})` : ""}`;
  return error instanceof Error ? error.message : String(error);
}

/** Loads a revision's config; its network name must be the attachment's (the cache and leases are named by it). */
function loadRevision(conflist: Record<string, unknown>, networkName: string, revision: number): NetworkConfigList {
  const net = loadNetworkList(JSON.stringify(conflist), { source: `network ${networkName} revision ${revision}` });
  if (net.name !== networkName) throw new Error(`the config's network name "${net.name}" is not the attachment's "${networkName}"`);
  return net;
}

/** Loads and checks the operation's network and attachment ids; throws with a clear message. */
export function prepare(payload: OperationPayload, netnsDir: string): { net: NetworkConfigList; rt: RuntimeConf; previous?: NetworkConfigList } {
  const a = payload.attachment;
  validateContainerId(a.containerId);
  validateIfName(a.ifName);
  const net = loadRevision(payload.conflist, a.networkName, a.networkRevision);
  const previous = payload.previous ? loadRevision(payload.previous.conflist, a.networkName, payload.previous.networkRevision) : undefined;
  const rt: RuntimeConf = {
    containerId: a.containerId,
    ifName: a.ifName,
    netns: netnsPathOf(a.targetKind, a.target, netnsDir),
    ...(a.capabilityArgs.portMappings ? { capabilityArgs: { portMappings: a.capabilityArgs.portMappings } } : {}),
  };
  return { net, rt, ...(previous ? { previous } : {}) };
}

/**
 * Carries out one claimed operation on the host. Before the first plugin runs an intent record
 * is durable; an ADD is preceded by a DEL whenever the attachment may hold state already (a
 * retry, a cache entry, an intent left by a crash): never ADD blindly.
 */
export async function executeOperation(deps: ExecutorDeps, payload: OperationPayload, say: (line: JobLine) => void): Promise<Outcome> {
  const a = payload.attachment;
  let prepared: ReturnType<typeof prepare>;
  try {
    prepared = prepare(payload, deps.netnsDir);
  } catch (error) {
    say({ stream: "agent", line: `refused: ${describe(error)}` });
    return { outcome: "failed", error: `refused by the agent: ${describe(error)}`, retryable: false };
  }
  const { net, rt, previous } = prepared;
  const intend = (kind: "attach" | "check" | "detach", conflist: Record<string, unknown>) =>
    deps.intents.write({
      operationId: payload.operationId,
      attempt: payload.attempt,
      kind,
      attachmentId: a.id,
      networkName: net.name,
      containerId: rt.containerId,
      ifName: rt.ifName,
      netns: rt.netns,
      conflist,
      capabilityArgs: rt.capabilityArgs ?? {},
      startedAt: new Date(),
    });
  try {
    if (payload.kind === "reapply") return await reapply(deps, payload, { net, previous: previous!, rt, intend }, say);
    // An attach's sandbox is made while its intent is flushed (see attach); the rest wait for it.
    const intended = intend(payload.kind, payload.conflist);
    if (payload.kind === "attach") return await attach(deps, payload, net, rt, say, intended);
    await intended;
    switch (payload.kind) {
      case "check":
        say({ stream: "agent", line: `CHECK ${net.name} ${rt.containerId} ${rt.ifName}` });
        await deps.runtime.checkNetworkList(net, rt);
        say({ stream: "agent", line: "CHECK passed" });
        return { outcome: "succeeded" };
      case "detach": {
        // "given" is the way out of a stuck attachment: the network's current revision only. Otherwise
        // the config ADD ran (cached) with this revision's as the fallback when that one cannot finish.
        const configSource = payload.configSource ?? "cached";
        say({ stream: "agent", line: `DEL ${net.name} ${rt.containerId} ${rt.ifName} (${rt.netns}) ${configSource === "given" ? `with revision ${a.networkRevision} only (not the cached config)` : `with the cached config (revision ${a.networkRevision} if it cannot finish)`}` });
        await deps.runtime.delNetworkList(net, rt, { configSource });
        if (a.targetKind === "sandbox") {
          const gone = await deleteSandbox(a.target, deps.netnsDir, deps.spawner);
          say({ stream: "agent", line: `sandbox namespace ${a.target}: ${gone}` });
        }
        return { outcome: "succeeded" };
      }
    }
  } catch (error) {
    say({ stream: "agent", line: `failed: ${describe(error)}` });
    return { outcome: "failed", error: describe(error), retryable: isRetryable(error) };
  }
}

/**
 * Moves an attachment to another revision of its network: DEL with the revision it runs, then ADD
 * with the new one (DEL first again when a cache entry or an earlier attempt says so). The intent
 * record names the config of the step in flight, so a crash at any point is undone by a DEL with
 * the config the host may hold (the old one, then the new one); the retry starts over.
 */
async function reapply(
  deps: ExecutorDeps,
  payload: OperationPayload,
  step: { net: NetworkConfigList; previous: NetworkConfigList; rt: RuntimeConf; intend: (kind: "attach" | "detach", conflist: Record<string, unknown>) => Promise<void> },
  say: (line: JobLine) => void,
): Promise<Outcome> {
  const { net, previous, rt } = step;
  const from = payload.previous!.networkRevision;
  const to = payload.attachment.networkRevision;
  await step.intend("detach", payload.previous!.conflist);
  say({ stream: "agent", line: `DEL ${previous.name} ${rt.containerId} ${rt.ifName} with revision ${from} (${rt.netns})` });
  await deps.runtime.delNetworkList(previous, rt);
  const intended = step.intend("attach", payload.conflist);
  say({ stream: "agent", line: `revision ${from} removed; ADD with revision ${to}` });
  return attach(deps, payload, net, rt, say, intended);
}

/**
 * ADD, after the sandbox (if the target is one) is made. `intended` is the intent record's write:
 * it is durable before any plugin runs. The sandbox is made meanwhile, the disk flush and
 * `ip netns add` overlapping: a namespace lives in /run (gone with the host, so no record has to
 * survive a power loss for it), and one left by a crash of the agent before its intent is the
 * retry's to reuse ("existed") or the detach's to delete.
 */
async function attach(deps: ExecutorDeps, payload: OperationPayload, net: NetworkConfigList, rt: RuntimeConf, say: (line: JobLine) => void, intended: Promise<void>): Promise<Outcome> {
  const a = payload.attachment;
  // With holdPlugins the intent is awaited by each plugin's input, not here: the runtime's checks,
  // locks and the plugin's fork overlap its flush. Its failure is reported before the runtime's.
  const held = deps.holdPlugins !== undefined;
  deps.holdPlugins?.(intended);
  if (a.targetKind === "sandbox") {
    // Both settle before anything is said or thrown: a failed intent must not leave a sandbox being made.
    const [made, durable] = await Promise.allSettled([ensureSandbox(a.target, deps.netnsDir, deps.spawner), held ? Promise.resolve() : intended]);
    if (durable.status === "rejected") throw durable.reason;
    if (made.status === "rejected") {
      await intended;
      throw made.reason;
    }
    say({ stream: "agent", line: `sandbox namespace ${a.target}: ${made.value}` });
  } else if (!held) {
    await intended;
  }
  let outcome: Outcome;
  try {
    outcome = await addHeld(deps, payload, net, rt, say);
  } catch (error) {
    // A plugin killed unfed because the intent failed: the intent's error is the one to report.
    await intended;
    throw error;
  }
  await intended;
  return outcome;
}

/** The DEL a retry needs, then ADD (and a sandbox's loopback beside it). */
async function addHeld(deps: ExecutorDeps, payload: OperationPayload, net: NetworkConfigList, rt: RuntimeConf, say: (line: JobLine) => void): Promise<Outcome> {
  const a = payload.attachment;
  const cached = await deps.runtime.getCachedResult(net, rt).catch(() => "unreadable" as const);
  if (payload.attempt > 1 || cached !== null) {
    say({ stream: "agent", line: `DEL first (${payload.attempt > 1 ? `attempt ${payload.attempt}` : "a cached attachment exists"}): never ADD over unknown state` });
    await deps.runtime.delNetworkList(net, rt);
  }
  say({ stream: "agent", line: `ADD ${net.name} ${rt.containerId} ${rt.ifName} (${rt.netns})` });
  // A sandbox's loopback comes up beside ADD (it does not touch the plugins' interface); both are
  // awaited. It is asked for a turn of the event loop later, so the plugin's spawn goes first.
  const [added, loopback] = await Promise.allSettled([
    deps.runtime.addNetworkList(net, rt),
    a.targetKind === "sandbox" ? nextTurn().then(() => sandboxLoopbackUp(a.target, deps.netnsDir, deps.spawner)) : Promise.resolve(),
  ]);
  if (added.status === "rejected") throw added.reason;
  // ADD is done and cached: a later attempt DELs it first.
  if (loopback.status === "rejected") throw loopback.reason;
  const result: CniResult = added.value;
  for (const ip of result.ips ?? []) say({ stream: "agent", line: `address ${ip.address}${ip.gateway ? ` via ${ip.gateway}` : ""}` });
  return { outcome: "succeeded", result: result as unknown as Record<string, unknown> };
}
