import { isIP } from "node:net";
import { createCniRuntime, loadNetworkList } from "../../src/index";
import type { CniRuntime, NetworkConfigList, RuntimeConf } from "../../src/index";
import { afterAll, afterEach, beforeAll } from "vitest";
import {
  createCleanup,
  deleteBridge,
  nftTablesPresent,
  purgeAttachmentLeftovers,
  removeEmptyNftTablesCreatedSince,
  removeSharedChainsCreatedSince,
  saveSysctls,
  sharedChainsPresent,
} from "./cleanup";
import { createNetns, randomSuffix, type TestNetns } from "./netns";
import { createTestDirs, PLUGIN_DIRS, type TestDirs } from "./networks";
import { attachmentChains, diffSnapshots, snapshotHost, type HostLeaks, type HostSnapshot } from "./snapshot";

export const isRoot = process.getuid?.() === 0;

export interface Attachment {
  ns: TestNetns;
  dirs: TestDirs;
  runtime: CniRuntime;
  net: NetworkConfigList;
  rt: RuntimeConf;
  /** Names that identify this attachment's objects on the host (grows with addTokens). */
  tokens: string[];
  before: HostSnapshot;
  /** Snapshot after ADD, with the result's addresses and interface names added to the tokens. */
  snapshotAfterAdd(result: { ips?: { address: string }[]; interfaces?: { name: string; sandbox?: string }[] }): Promise<HostSnapshot>;
  /** What is left on the host compared with before ADD. */
  leaks(): Promise<HostLeaks>;
}

export interface AttachmentOptions {
  /** Build the conflist once the temp dirs exist (host-local's dataDir lives in them). */
  conflist: (dirs: TestDirs) => { text: string; network: string; bridge?: string; extraTokens?: string[] };
  cleanup: ReturnType<typeof createCleanup>;
  ifName?: string;
  timeoutMs?: number;
  pluginDirs?: string[];
}

/** A namespace, isolated cache/IPAM dirs, a runtime and a loaded network, all undone by `cleanup`. */
export async function prepareAttachment(opts: AttachmentOptions): Promise<Attachment> {
  const { cleanup } = opts;
  const dirs = await createTestDirs();
  cleanup.add(() => dirs.remove());
  const ns = await createNetns();
  cleanup.add(() => ns.remove());
  const built = opts.conflist(dirs);
  if (built.bridge) {
    const bridge = built.bridge;
    cleanup.add(() => deleteBridge(bridge));
  }
  const runtime = createCniRuntime({
    pluginDirs: opts.pluginDirs ?? PLUGIN_DIRS,
    cacheDir: dirs.cacheDir,
    timeoutMs: opts.timeoutMs ?? 30_000,
  });
  const net = loadNetworkList(built.text);
  const rt: RuntimeConf = { containerId: `sytest-cid-${randomSuffix()}`, netns: ns.path, ifName: opts.ifName ?? "eth0" };
  const tokens = [built.network, rt.containerId, ns.name, ...(built.bridge ? [built.bridge] : []), ...(built.extraTokens ?? [])];
  // Runs before the namespace goes (steps run in reverse): a test that failed before its DEL still
  // DELs, and whatever the plugins left anyway is purged, so one failure does not leak into the host.
  cleanup.add(async () => {
    await runtime.delNetworkList(net, rt).catch(() => undefined);
    await purgeAttachmentLeftovers(built.network, rt.containerId, tokens.filter((t) => isIP(t) !== 0));
  });
  const scope = () => ({ tokens, cacheDir: dirs.cacheDir, dataDir: dirs.dataDir, network: built.network });
  const before = await snapshotHost(scope());
  return {
    ns,
    dirs,
    runtime,
    net,
    rt,
    tokens,
    before,
    async snapshotAfterAdd(result) {
      for (const ip of result.ips ?? []) tokens.push(ip.address.split("/")[0]!);
      for (const i of result.interfaces ?? []) if (!i.sandbox && i.name !== built.bridge) tokens.push(i.name);
      const snap = await snapshotHost(scope());
      tokens.push(...attachmentChains(snap));
      return snap;
    },
    async leaks() {
      const after = await snapshotHost(scope());
      return diffSnapshots(before, after, tokens, built.bridge ? [built.bridge] : []);
    },
  };
}

export const NO_LEAKS: HostLeaks = {
  links: [],
  netns: [],
  iptablesChains: [],
  iptablesRules: [],
  nftChains: [],
  nftRules: [],
  leases: [],
  cacheFiles: [],
};

/**
 * Registers the hooks every real-plugin suite needs and returns its cleanup: the host's
 * forwarding sysctls, and the shared firewall chains and nft tables the plugins create
 * once, are put back as they were when the suite started.
 */
export function guardHost(): ReturnType<typeof createCleanup> {
  const cleanup = createCleanup();
  let restoreSysctls: (() => Promise<void>) | undefined;
  let sharedBefore: Set<string> | undefined;
  let tablesBefore: Set<string> | undefined;
  beforeAll(async () => {
    restoreSysctls = await saveSysctls();
    sharedBefore = await sharedChainsPresent();
    tablesBefore = await nftTablesPresent();
  });
  afterEach(() => cleanup.run());
  afterAll(async () => {
    await restoreSysctls?.();
    if (sharedBefore) await removeSharedChainsCreatedSince(sharedBefore);
    if (tablesBefore) await removeEmptyNftTablesCreatedSince(tablesBefore);
  });
  return cleanup;
}
