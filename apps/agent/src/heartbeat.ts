import type { Clock } from "./clock";
import { AGENT_VERSION } from "./config";
import type { ConsolePort, DesiredAttachment, HeartbeatInput } from "./console";
import type { HostInventory } from "./inventory";
import { fitInventory } from "./inventory-fit";
import type { Logger } from "./log";

/**
 * A beat about every 10 s (each wait drawn from 8–12 s, so a fleet started together does not beat
 * together); the inventory looked at every minute but sent only when it changed, or every 5
 * minutes, or when asked (issue 15: 500 hosts' inventories every minute were most of the
 * console's steady-state work); plugin versions every 10 minutes.
 */
export const BEAT_MS = 10_000;
export const BEAT_JITTER = 0.2;
export const INVENTORY_MS = 60_000;
export const INVENTORY_REFRESH_MS = 5 * 60_000;
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
  random?: () => number;
}

/** An inventory as compared between beats: what the host is, not when the agent last heard a push. */
function digestOf(inventory: Inventory): string {
  const { lastSubscriptionEventAt: _ignored, ...rest } = inventory;
  return JSON.stringify(rest);
}

/** Heartbeat and inventory: the host's liveness, its inventory when due, credential rotation, queued outcomes. */
export function createHeartbeat<V>(deps: HeartbeatDeps<V>, initialVersions: V) {
  let inventoryDue = true;
  let lastInventory = Number.NEGATIVE_INFINITY;
  let lastSent = Number.NEGATIVE_INFINITY;
  let lastDigest = "";
  const random = deps.random ?? Math.random;
  let versions = initialVersions;
  let versionsAt = Number.NEGATIVE_INFINITY;
  let lastTruncated = "";

  async function beat(): Promise<void> {
    let inventory: Inventory | undefined;
    let digest = "";
    // Periods by the monotonic clock: a wall-clock step would stop the inventory for hours, or spawn every plugin at once.
    const now = deps.clock.monotonic();
    if (inventoryDue || now - lastInventory >= INVENTORY_MS) {
      const asked = inventoryDue;
      inventoryDue = false;
      if (now - versionsAt > VERSIONS_MS) {
        versions = await deps.pluginVersions();
        versionsAt = deps.clock.monotonic();
      }
      const desired = await deps.console.desired().catch(() => []);
      // Within the console's schema and the agents' body budget: one odd entry or a huge host must not have every report refused.
      const collected: Inventory = fitInventory({ ...(await deps.collectInventory(desired, versions)), ...deps.status() });
      const truncated = (collected.truncated ?? []).join(", ");
      if (truncated !== lastTruncated && truncated) deps.log.warn("inventory cut to what the console takes", { truncated });
      lastTruncated = truncated;
      lastInventory = now;
      digest = digestOf(collected);
      if (asked || digest !== lastDigest || now - lastSent >= INVENTORY_REFRESH_MS) inventory = collected;
    }
    // Looked at and unchanged: the console is told it still stands (its freshness), not sent it again.
    const unchanged = inventory === undefined && digest !== "";
    const answer = await deps.console.heartbeat({ agentVersion: AGENT_VERSION, ...(inventory ? { inventory } : unchanged ? { inventoryUnchanged: true as const } : {}) });
    if (inventory) {
      lastSent = now;
      lastDigest = digest;
    }
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
        const wait = BEAT_MS * (1 - BEAT_JITTER + 2 * BEAT_JITTER * random());
        for (let waited = 0; waited < wait && !inventoryDue && !signal.aborted; waited += DUE_CHECK_MS) await deps.clock.sleep(Math.min(DUE_CHECK_MS, wait - waited), signal);
      }
    },
  };
}
export type Heartbeat = ReturnType<typeof createHeartbeat>;
