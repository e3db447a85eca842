import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { type CachedAttachmentSummary, type CniRuntime, compareVersions, type NetworkConfigList } from "@switchyard/cni";
import { type LeaseFileState, readHostLocalStore, readLeaseFile } from "@switchyard/ipam/host-local";
import type { ClaimedRelease, ReleaseItem, ReleasedAddress, ReleaseStepOutcome } from "@switchyard/api/schemas/ipamRelease";
import type { KnownNetwork } from "./networks";
import { describeNetworkIpam } from "./networks";
import { DEFAULT_DATA_DIR_ROOTS, namespaceAlive } from "./snapshot";

const run = promisify(execFile);

/** How long the removal of a lease file waits for host-local's lock (a plugin holds it for milliseconds). */
const LOCK_WAIT_S = 10;

export interface ReleaseDeps {
  runtime: Pick<CniRuntime, "listCachedAttachments" | "delCachedAttachment" | "delNetworkList" | "gcNetworkList" | "getVersionInfo">;
  /** The network's config as this host knows it (the console's current one, else the conf dir's). */
  knownNetwork(name: string): Promise<KnownNetwork | undefined>;
  /** The agent's own attachments: their addresses are released by a detach, never here. */
  ownedHolders(): readonly { networkName: string; containerId: string; ifName: string }[];
  allowedDataDirRoots?: readonly string[];
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, 1500);

/**
 * Carries out a release the console asked for, judging each address again on this host first:
 * the lease file must still name the leaked holder, no attachment of this agent may hold it, and
 * the holder's namespace must not live. Then CNI first — DEL with the cached config, else DEL with
 * the config the host knows, then GC with every other holder as the valid set where the plugins
 * speak GC — and host-local's lease file removed under its lock only when the plugins left it.
 * Each step is said with its outcome; the address counts as freed when no lease file names it.
 */
export async function carryOutRelease(deps: ReleaseDeps, release: ClaimedRelease): Promise<ReleasedAddress[]> {
  const known = await deps.knownNetwork(release.networkName);
  const out: ReleasedAddress[] = [];
  for (const item of release.items) out.push(await releaseOne(deps, known, release.networkName, item));
  return out;
}

async function releaseOne(deps: ReleaseDeps, known: KnownNetwork | undefined, networkName: string, item: ReleaseItem): Promise<ReleasedAddress> {
  const steps: ReleaseStepOutcome[] = [];
  const stop = (outcome: "refused" | "done", text: string, freed = false): ReleasedAddress => {
    steps.push({ kind: "check", outcome, message: text });
    return { address: item.address, freed, steps };
  };
  if (!known) return stop("refused", `network ${networkName}'s config is not known on this host (neither the console's nor the conf dir's): nothing done`);
  const ipam = describeNetworkIpam(known.net, deps.allowedDataDirRoots ?? DEFAULT_DATA_DIR_ROOTS);
  if (!ipam.readable) {
    const why = ipam.ipamType !== "host-local" ? `its IPAM is "${ipam.ipamType || "none"}", not host-local` : (ipam.findings.find((f) => f.kind === "data-dir-not-allowed")?.reason ?? "its data dir may not be read");
    return stop("refused", `network ${networkName}: ${why}: nothing done`);
  }
  const readFile = () => readLeaseFile({ dataDir: ipam.dataDir.path, network: networkName, address: item.address });
  const first = await readFile();
  if (first.state === "absent") return stop("done", `no lease file names ${item.address} in ${first.dir}: already free`, true);
  if (first.state === "bad") return stop("refused", `${first.file}: ${first.reason}: nothing done`);
  if (!namesHolder(first, item)) return stop("refused", `${first.file} now names ${first.containerId}/${first.ifName || "?"}, not the leaked holder ${item.containerId}/${item.ifName || "?"}: nothing done`);
  if (deps.ownedHolders().some((o) => o.networkName === networkName && o.containerId === item.containerId && (item.ifName === "" || o.ifName === item.ifName))) {
    return stop("refused", `an attachment of this agent holds ${item.address} (${item.containerId}): detach it instead`);
  }
  const cached = await deps.runtime.listCachedAttachments(networkName).catch(() => [] as CachedAttachmentSummary[]);
  const entry = cached.find((c) => c.containerId === item.containerId && c.ifName === item.ifName);
  const alive = entry ? namespaceAlive(entry.netns) : null;
  if (alive === true) return stop("refused", `its holder's namespace ${entry!.netns} lives: not a leak, nothing done`);
  steps.push({ kind: "check", outcome: "done", message: `${first.file} names ${item.containerId}/${item.ifName || "?"}; ${entry ? `the result cache has its entry, namespace ${entry.netns || "(none)"} ${alive === false ? "gone" : "unknown"}` : "no result cache entry"}` });

  const stillHeld = async (): Promise<boolean> => {
    const now = await readFile();
    return now.state === "held" && namesHolder(now, item);
  };
  const attempt = async (kind: ReleaseStepOutcome["kind"], what: string, fn: () => Promise<void>): Promise<boolean> => {
    try {
      await fn();
    } catch (error) {
      steps.push({ kind, outcome: "failed", message: `${what} failed: ${message(error)}` });
      return !(await stillHeld());
    }
    const freed = !(await stillHeld());
    steps.push({ kind, outcome: "done", message: `${what}: ${freed ? "the address is free" : "the lease file is still there"}` });
    return freed;
  };
  const done = (): ReleasedAddress => ({ address: item.address, freed: true, steps });

  if (entry) {
    if (await attempt("cni-del-cached", `CNI DEL of ${networkName} ${item.containerId}/${item.ifName} with the cached config`, () => deps.runtime.delCachedAttachment({ networkName, containerId: item.containerId, ifName: item.ifName }))) return done();
  } else if (item.ifName === "") {
    steps.push({ kind: "cni-del-known", outcome: "skipped", message: "the lease file names no interface (written by plugins before 0.8): a DEL needs one" });
  } else {
    const rt = { containerId: item.containerId, ifName: item.ifName, netns: "" };
    if (await attempt("cni-del-known", `CNI DEL of ${networkName} ${item.containerId}/${item.ifName} with the config this host knows (${known.knownFrom.join(" and ")}), no namespace`, () => deps.runtime.delNetworkList(known.net, rt, { configSource: "given" }))) return done();
  }

  const gc = await gcPlan(deps, known.net, ipam.dataDir.path, item, cached);
  if ("skip" in gc) steps.push({ kind: "cni-gc", outcome: "skipped", message: gc.skip });
  else if (await attempt("cni-gc", `CNI GC of ${networkName} with ${gc.valid.length} other holder(s) as the valid set`, () => deps.runtime.gcNetworkList(known.net, { validAttachments: gc.valid }))) return done();

  const lock = join(first.dir, "lock");
  if (await attempt("remove-lease-file", `${first.file} removed under host-local's lock ${lock}`, () => removeUnderLock(lock, first.file, first.content))) return done();
  return { address: item.address, freed: false, steps };
}

function namesHolder(state: Extract<LeaseFileState, { state: "held" }>, item: ReleaseItem): boolean {
  return state.containerId === item.containerId && state.ifName === item.ifName;
}

/**
 * Whether GC may run, and its valid set: every other holder of the network on this host (lease
 * files and cache entries), so that GC frees this address and nothing else. Skipped where the
 * config is older than CNI 1.1 or a plugin does not speak it, and where a holder could not be
 * named exactly (GC would free its address too).
 */
async function gcPlan(deps: ReleaseDeps, net: NetworkConfigList, dataDir: string, item: ReleaseItem, cached: readonly CachedAttachmentSummary[]): Promise<{ valid: { containerId: string; ifName: string }[] } | { skip: string }> {
  if (!/^\d+\.\d+\.\d+$/.test(net.cniVersion) || compareVersions(net.cniVersion, "1.1.0") < 0) return { skip: `the config is CNI ${net.cniVersion}: GC came with 1.1.0` };
  const types = [...new Set(net.plugins.flatMap((p) => [p.type, ...(typeof (p.config.ipam as { type?: unknown } | undefined)?.type === "string" ? [(p.config.ipam as { type: string }).type] : [])]))];
  for (const type of types) {
    const info = await deps.runtime.getVersionInfo(type).catch(() => null);
    if (!info?.supportedVersions.includes(net.cniVersion)) return { skip: `plugin ${type} does not speak CNI ${net.cniVersion}${info ? ` (it speaks ${info.supportedVersions.join(", ")})` : ""}: no GC` };
  }
  const store = await readHostLocalStore({ dataDir, network: net.name });
  if (store.truncated || store.findings.some((f) => f.kind !== "outside-ranges" && f.kind !== "not-an-address")) return { skip: "some lease files could not be read exactly: GC would free what they hold" };
  const holders = new Map<string, { containerId: string; ifName: string }>();
  for (const l of store.leases) {
    if (l.containerId === item.containerId && l.ifName === item.ifName) continue;
    if (l.ifName === "") return { skip: `the lease of ${l.address} names no interface: GC would free it too` };
    holders.set(`${l.containerId}\0${l.ifName}`, { containerId: l.containerId, ifName: l.ifName });
  }
  for (const c of cached) if (!(c.containerId === item.containerId && c.ifName === item.ifName)) holders.set(`${c.containerId}\0${c.ifName}`, { containerId: c.containerId, ifName: c.ifName });
  // HARDENING 22: GC with an empty valid set only in an explicit drain, never as a side effect.
  if (holders.size === 0) return { skip: "no other holder on this host: GC would run with an empty valid set (only a drain does that)" };
  return { valid: [...holders.values()] };
}

/**
 * Removes a lease file while holding host-local's lock (flock(1) on `<dir>/lock`, the lock the
 * plugin takes), and only if it is still a plain file with the content read before: a file that a
 * plugin rewrote meanwhile for a new holder stays. Arguments go to the shell as positional
 * parameters, never into the script.
 */
export async function removeUnderLock(lock: string, file: string, expected: string): Promise<void> {
  const script = '[ -f "$1" ] && [ ! -L "$1" ] || exit 3; [ "$(cat -- "$1")" = "$2" ] || exit 4; rm -f -- "$1"';
  try {
    await run("flock", ["-E", "75", "-w", String(LOCK_WAIT_S), lock, "sh", "-c", script, "sh", file, expected.replace(/\n+$/, "")], { timeout: (LOCK_WAIT_S + 5) * 1000 });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 75) throw new Error(`host-local's lock ${lock} was held for more than ${LOCK_WAIT_S} s`);
    if (code === 3) throw new Error(`${file} is no longer a plain file`);
    if (code === 4) throw new Error(`${file} changed meanwhile (another holder): left alone`);
    throw error;
  }
}
