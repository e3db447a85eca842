import { type FSWatcher, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { AGENT_BODY_BUDGET_BYTES } from "@switchyard/api/schemas";
import { labelKeyProblem, labelValueProblem, LABELS_MAX } from "@switchyard/api/schemas/services";
import { type CniRuntime, parseCachedAttachment } from "@switchyard/cni";
import type { Clock } from "../clock";
import type { ObservedReportInput } from "../console";
import { createCoalescedRunner } from "../coalesce";
import type { Logger } from "../log";
import type { AttachmentKey } from "../owned";
import { followEvents } from "./events";
import type { ContainerSource, RuntimeContainer } from "./source";

/**
 * Containers other runtimes attached to networks on this host (issue 16 §3), seen without running
 * ADD or DEL for them: every entry of libcni's result cache this agent did not make is one (podman,
 * containerd, nerdctl and cnitool all write there, and their DEL removes it), described by the
 * runtime that knows the container (podman, containerd). The cache directory is watched, so a
 * runtime's ADD or DEL is seen as its file appears or goes, and the event stream of each runtime
 * with containers here is followed, so a stop without DEL (`ctr run -d`) or a label change is seen
 * as it happens; a check each reconcile interval catches what both missed. Sent to the console
 * only when the picture changed.
 */

/**
 * One container, and the report, as the console's schema takes them (the agent's types are the
 * API's): labels are only pairs a selector may match (`selectableLabels`), addresses the CNI
 * result's, runtime `unknown` when no runtime here describes the container.
 */
export type ObservedReport = ObservedReportInput;
export type ObservedAttachment = ObservedReport["attachments"][number];
export type RuntimeStatus = ObservedReport["runtimes"][number];

/** The cache entries read per pass at most (the console takes as many). */
export const OBSERVED_MAX = 5000;
/** A report's JSON at most: the agents' per-call budget, less room for the envelope. */
export const OBSERVED_MAX_BYTES = AGENT_BODY_BUDGET_BYTES - 64 * 1024;
const CACHE_FILE_MAX_BYTES = 1024 * 1024;
/** Passes a change asks for start at least this far apart. */
export const PASS_GAP_MS = 1000;

/** Labels a selector can match (the console's rules); a crafted or oversized one is left out, never passed on. */
export function selectableLabels(labels: Record<string, string>): { labels: Record<string, string>; leftOut: number } {
  const kept: Record<string, string> = {};
  let leftOut = 0;
  for (const [k, v] of Object.entries(labels)) {
    if (Object.keys(kept).length >= LABELS_MAX || labelKeyProblem(k) || labelValueProblem(v)) leftOut++;
    else kept[k] = v;
  }
  return { labels: kept, leftOut };
}

function addressesOf(result: Record<string, unknown> | undefined): string[] {
  const ips = result?.ips;
  if (!Array.isArray(ips)) return [];
  return ips.map((ip) => (ip as { address?: unknown }).address).filter((a): a is string => typeof a === "string" && a.length <= 64);
}

type Described = { runtime: ContainerSource["runtime"]; container: RuntimeContainer };

export function createObserver(deps: {
  runtime: Pick<CniRuntime, "listCachedAttachments">;
  cacheDir: string;
  owned: { has(key: AttachmentKey): boolean };
  sources: ContainerSource[];
  report(report: ObservedReport): Promise<unknown>;
  log: Logger;
  clock: Pick<Clock, "sleep">;
}) {
  let lastSent: string | undefined;
  let cutWarned = false;
  const failing = new Set<string>();
  /** What the runtimes said of each cache container id in the last pass. */
  let lastDescribed = new Map<string, Described>();
  /** The runtimes with containers here: their events are followed (a follower costs a runtime's CLI process, ~30 MB for podman's). */
  let withContainers = new Set<string>();

  async function collect(): Promise<ObservedReport> {
    const cached = (await deps.runtime.listCachedAttachments()).filter((a) => !a.addIncomplete && !deps.owned.has(a)).slice(0, OBSERVED_MAX);
    const ids = [...new Set(cached.map((a) => a.containerId))];
    const runtimes: RuntimeStatus[] = [];
    const known = new Map<string, Described>();
    for (const source of deps.sources) {
      // A runtime not on this host (containerd's socket absent) is neither asked nor reported.
      if (!source.present()) continue;
      try {
        for (const [id, container] of await source.describe(ids.filter((id) => !known.has(id)))) known.set(id, { runtime: source.runtime, container });
        runtimes.push({ runtime: source.runtime, ok: true });
        if (failing.delete(source.runtime)) deps.log.info(`${source.runtime} answers again`);
      } catch (error) {
        // The agent goes on: a container this runtime described before keeps that description (a runtime
        // restarting or hung has not stopped its containers, which stay in their pools); one it never
        // described is shown from the cache alone. The report says the runtime does not answer.
        for (const id of ids) {
          const before = lastDescribed.get(id);
          if (!known.has(id) && before?.runtime === source.runtime) known.set(id, before);
        }
        const message = (error as Error).message.slice(0, 500);
        runtimes.push({ runtime: source.runtime, ok: false, error: message });
        if (!failing.has(source.runtime)) deps.log.warn(`${source.runtime} does not answer; its containers keep what it said of them last`, { error: message });
        failing.add(source.runtime);
      }
    }
    lastDescribed = known;
    withContainers = new Set([...known.values()].map((d) => d.runtime));
    const attachments: ObservedAttachment[] = [];
    for (const a of cached) {
      let addresses: string[] = [];
      try {
        const text = await readFile(a.file, "utf8");
        if (text.length <= CACHE_FILE_MAX_BYTES) addresses = addressesOf(parseCachedAttachment(text, a.file).result);
      } catch {
        // Gone since the listing (a DEL): the next pass leaves it out.
        continue;
      }
      const found = known.get(a.containerId);
      const { labels, leftOut } = selectableLabels(found?.container.labels ?? {});
      attachments.push({
        runtime: found?.runtime ?? "unknown",
        containerId: a.containerId,
        networkName: a.networkName,
        ifName: a.ifName,
        netns: a.netns,
        name: found?.container.name.slice(0, 255) ?? "",
        image: found?.container.image.slice(0, 512) ?? "",
        labels,
        labelsLeftOut: leftOut,
        state: found?.container.state.slice(0, 32) ?? "",
        addresses,
      });
    }
    attachments.sort((x, y) => `${x.networkName}/${x.containerId}/${x.ifName}`.localeCompare(`${y.networkName}/${y.containerId}/${y.ifName}`));
    // Within what one agent call may carry: a host with thousands reports those that fit, and says so.
    const bytes = (list: ObservedAttachment[]) => Buffer.byteLength(JSON.stringify({ attachments: list, runtimes }));
    if (bytes(attachments) > OBSERVED_MAX_BYTES) {
      const all = attachments.length;
      let keep = Math.floor((all * OBSERVED_MAX_BYTES) / bytes(attachments));
      while (keep > 0 && bytes(attachments.slice(0, keep)) > OBSERVED_MAX_BYTES) keep = Math.floor(keep * 0.95);
      attachments.length = keep;
      if (!cutWarned) deps.log.warn("containers of other runtimes cut to what one report carries", { reported: keep, seen: all, maxBytes: OBSERVED_MAX_BYTES });
      cutWarned = true;
    } else cutWarned = false;
    return { attachments, runtimes };
  }

  let lastPassAt = 0;
  const runner = createCoalescedRunner(async () => {
    lastPassAt = Date.now();
    const report = await collect();
    const text = JSON.stringify(report);
    if (text === lastSent) return;
    await deps.report(report);
    lastSent = text;
  });
  const wake = () => runner.wake().catch((error: unknown) => deps.log.warn("other runtimes' containers not reported", { error: (error as Error).message }));

  return {
    collect,
    /** Look again now (coalesced). */
    wake,
    idle: () => runner.idle(),
    /** Watches the cache's results dir until `signal` aborts; a pass at once and after each change (200 ms apart at most). */
    name: "observed containers",
    async run(signal: AbortSignal): Promise<void> {
      void wake();
      let timer: NodeJS.Timeout | undefined;
      /**
       * A pass 200 ms from the first of a burst of changes, and at most one a second while it lasts: each
       * pass reads the whole cache and asks the runtimes, so a thousand containers starting at once cost a
       * pass a second, not one per change.
       */
      const soon = () => void (timer ??= setTimeout(() => ((timer = undefined), void wake()), Math.max(200, lastPassAt + PASS_GAP_MS - Date.now())));
      let watcher: FSWatcher | undefined;
      const arm = (): boolean => {
        try {
          // The results dir appears with the first cached ADD: until then arming is tried again every few seconds.
          watcher = watch(join(deps.cacheDir, "results"), soon);
          watcher.on("error", () => (watcher?.close(), (watcher = undefined)));
          return true;
        } catch {
          watcher = undefined;
          return false;
        }
      };
      arm();
      const followers = deps.sources.map((source) =>
        followEvents(source, { signal, changed: soon, followed: () => void wake(), wanted: () => withContainers.has(source.runtime), log: deps.log, clock: deps.clock }),
      );
      while (!signal.aborted) {
        await deps.clock.sleep(5000, signal).catch(() => undefined);
        // Set again (the dir appeared, or the watch broke): what happened meanwhile is looked at once.
        if (!watcher && !signal.aborted && arm()) void wake();
      }
      watcher?.close();
      await Promise.all(followers);
      if (timer) clearTimeout(timer);
    },
  };
}
export type Observer = ReturnType<typeof createObserver>;
