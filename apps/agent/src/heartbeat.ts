import type { Clock } from "./clock";
import { AGENT_VERSION } from "./config";
import type { ConsolePort, DesiredAttachment, HeartbeatInput } from "./console";
import type { HostInventory } from "./inventory";
import type { Logger } from "./log";

/** A beat every 10 s; an inventory at least every minute, and plugin versions every 10 minutes. */
export const BEAT_MS = 10_000;
export const INVENTORY_MS = 60_000;
export const VERSIONS_MS = 10 * 60_000;
/** How often a waiting heartbeat looks whether a fresh inventory was asked for. */
const DUE_CHECK_MS = 500;

export type Inventory = NonNullable<HeartbeatInput["inventory"]>;
type AgentStatus = Pick<Inventory, "lastSubscriptionEventAt" | "pushStream" | "lastReconcile">;

export interface HeartbeatDeps<V> {
  console: Pick<ConsolePort, "heartbeat" | "desired">;
  /** What the host looks like (plugins, namespaces, cache, conf files…). */
  collectInventory(desired: DesiredAttachment[], versions: V): Promise<HostInventory>;
  /** Plugins' VERSION answers: spawns each plugin, so asked rarely. */
  pluginVersions(): Promise<V>;
  /** The agent's own state at the time of the beat (push stream, last reconcile). */
  status(): AgentStatus;
  /** The console asked for a new credential. */
  rotateCredential(): Promise<void>;
  /** Outcomes queued while the console was unreachable go with each beat. */
  flushReports(): Promise<void>;
  log: Logger;
  clock: Clock;
}

/** Heartbeat and inventory: the host's liveness, its inventory when due, credential rotation, queued outcomes. */
export function createHeartbeat<V>(deps: HeartbeatDeps<V>, initialVersions: V) {
  let inventoryDue = true;
  let lastInventory = 0;
  let versions = initialVersions;
  let versionsAt = Number.NEGATIVE_INFINITY;

  async function beat(): Promise<void> {
    let inventory: Inventory | undefined;
    if (inventoryDue || deps.clock.now() - lastInventory > INVENTORY_MS) {
      inventoryDue = false;
      if (deps.clock.now() - versionsAt > VERSIONS_MS) {
        versions = await deps.pluginVersions();
        versionsAt = deps.clock.now();
      }
      const desired = await deps.console.desired().catch(() => []);
      inventory = { ...(await deps.collectInventory(desired, versions)), ...deps.status() };
    }
    const answer = await deps.console.heartbeat({ agentVersion: AGENT_VERSION, ...(inventory ? { inventory } : {}) });
    if (inventory) lastInventory = deps.clock.now();
    if (answer.rotateCredential) await deps.rotateCredential();
    await deps.flushReports();
  }

  return {
    name: "heartbeat",
    /** A fresh inventory with the next beat, which comes sooner (after a reconcile, a stream change). */
    requestInventory(): void {
      inventoryDue = true;
    },
    beat,
    async run(signal: AbortSignal): Promise<void> {
      while (!signal.aborted) {
        try {
          await beat();
        } catch (error) {
          if (!signal.aborted) deps.log.warn("heartbeat failed; retrying", { error: (error as Error).message });
        }
        for (let waited = 0; waited < BEAT_MS && !inventoryDue && !signal.aborted; waited += DUE_CHECK_MS) await deps.clock.sleep(DUE_CHECK_MS, signal);
      }
    },
  };
}
export type Heartbeat = ReturnType<typeof createHeartbeat>;
