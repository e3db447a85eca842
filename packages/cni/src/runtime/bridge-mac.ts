import { readFile } from "node:fs/promises";
import { CNI_ERROR_CODES, CniError } from "../errors";
import { type Spawner, inProcessSpawner } from "../exec/spawner";
import type { ResolvedPlugin, RuntimeContext } from "./context";

/**
 * Pins the MAC of the Linux bridges a list's `bridge` plugins use, so that CHECK can pass.
 *
 * A bridge whose address was never set explicitly takes the lowest MAC among its ports, so it
 * changes whenever a container with a lower veth MAC joins (or the last port leaves: all zeros).
 * The bridge plugin records the bridge's MAC in its result at ADD and its CHECK compares it with
 * the current one ("Bridge interface cni0 Mac doesn't match"), before it checks anything else: a
 * healthy attachment fails CHECK once another one joined. The plugin pins the MAC itself only on
 * the `isGateway` path (containernetworking/plugins `ensureAddr`); netavark pins every bridge.
 * So the runtime does, the way the kernel offers: setting the address (to the one it has) makes
 * it `addr_assign_type` 3 (NET_ADDR_SET), which the kernel then keeps. prevResult is untouched,
 * so a bridge that really changed (replaced, re-addressed) still fails CHECK.
 */

const DEFAULT_BRIDGE = "cni0"; // the bridge plugin's default
const NET_ADDR_SET = "3";
const ZERO_MAC = "00:00:00:00:00:00";
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

interface LinkState {
  ifindex: number;
  mac: string;
  isBridge: boolean;
}

interface IpDeps {
  spawner: Spawner;
  path: string;
}

/** The bridges the list's `bridge` plugins attach to. */
export function bridgeNamesOf(plugins: readonly ResolvedPlugin[]): string[] {
  const names = plugins.filter((p) => p.type === "bridge").map((p) => (typeof p.config.bridge === "string" && p.config.bridge !== "" ? p.config.bridge : DEFAULT_BRIDGE));
  // A name that is no interface name (the plugin refuses it) never reaches a /sys path.
  return [...new Set(names)].filter((name) => /^[^/\s:]{1,15}$/.test(name) && name !== "." && name !== "..");
}

async function ip(deps: IpDeps, args: string[]) {
  return deps.spawner.run({ file: "ip", args, env: { PATH: deps.path || DEFAULT_PATH }, timeoutMs: 10_000, maxStdoutBytes: 256 * 1024, maxStderrBytes: 16 * 1024 });
}

/** The link in this process's network namespace (netlink, through `ip`); null when absent, undefined when it cannot tell. */
async function readLink(deps: IpDeps, name: string): Promise<LinkState | null | undefined> {
  const run = await ip(deps, ["-j", "-d", "link", "show", "dev", name]);
  if (run.spawnError) return undefined;
  if (run.exitCode !== 0) return /does not exist/.test(run.stderr) ? null : undefined;
  try {
    const [link] = JSON.parse(run.stdout) as { ifindex: number; address?: string; linkinfo?: { info_kind?: string } }[];
    if (!link) return null;
    return { ifindex: link.ifindex, mac: link.address ?? "", isBridge: link.linkinfo?.info_kind === "bridge" };
  } catch {
    return undefined;
  }
}

/**
 * What /sys says of the link: the kernel exposes `addr_assign_type` there only. /sys shows the
 * namespace that mounted it: callers compare its ifindex with netlink's before trusting it.
 */
async function readSysfs(name: string): Promise<{ ifindex: number; assignType: string } | undefined> {
  try {
    const [ifindex, assignType] = await Promise.all([readFile(`/sys/class/net/${name}/ifindex`, "utf8"), readFile(`/sys/class/net/${name}/addr_assign_type`, "utf8")]);
    return { ifindex: Number(ifindex.trim()), assignType: assignType.trim() };
  } catch {
    return undefined;
  }
}

async function setMac(deps: IpDeps, name: string, mac: string): Promise<string | undefined> {
  const run = await ip(deps, ["link", "set", "dev", name, "address", mac]);
  if (run.spawnError) return run.spawnError.message;
  if (run.exitCode !== 0) return run.stderr.trim() || `ip exited with status ${run.exitCode}`;
  return undefined;
}

// Per bridge, the ADDs of this process that find it unpinned take turns: one decides (and, when it
// makes the bridge or its first port, keeps the turn until its ADD is over), so no two ports join
// an unpinned bridge at once (one result would record a MAC the other's port changed).
const turns = new Map<string, Promise<void>>();

async function takeTurn(name: string): Promise<() => void> {
  for (let turn = turns.get(name); turn; turn = turns.get(name)) await turn;
  let finish!: () => void;
  const turn: Promise<void> = new Promise<void>((resolve) => (finish = resolve)).finally(() => {
    if (turns.get(name) === turn) turns.delete(name);
  });
  turns.set(name, turn);
  return finish;
}

export interface BridgePins {
  /** After a successful ADD: pins the bridges this ADD made. Never throws (a warning). */
  afterAdd(): Promise<void>;
  /** Always, after the ADD (success or not): lets the next ADD of a bridge this one made go. */
  release(): void;
}

const NOTHING: BridgePins = { afterAdd: async () => {}, release: () => {} };

type Warn = (name: string, what: string) => void;

/**
 * One bridge before an ADD: pinned as it is when it exists with an address (so the result records
 * the address that stays); "later" when this ADD makes it or its first port (no bridge, or all
 * zeros: it lost its last port), with the turn kept until the ADD is over.
 */
async function pinBeforeAdd(deps: IpDeps, name: string, warn: Warn): Promise<{ later: () => void } | undefined> {
  // The common case costs two small reads: a bridge already pinned (by an earlier ADD, or by the
  // plugin on its isGateway path).
  if ((await readSysfs(name))?.assignType === NET_ADDR_SET) return undefined;
  const finish = await takeTurn(name);
  try {
    const link = await readLink(deps, name);
    if (link === undefined) {
      warn(name, "`ip link show` failed");
    } else if (link === null || (link.isBridge && (link.mac === "" || link.mac === ZERO_MAC))) {
      return { later: finish };
    } else if (link.isBridge) {
      // (Not a bridge: the plugin refuses it.)
      const sysfs = await readSysfs(name);
      if (sysfs?.ifindex !== link.ifindex || sysfs.assignType !== NET_ADDR_SET) {
        const failed = await setMac(deps, name, link.mac);
        if (failed) warn(name, failed);
      }
    }
  } catch (error) {
    finish();
    throw error;
  }
  finish();
  return undefined;
}

/**
 * Before an ADD: pins each bridge the list's `bridge` plugins use that exists with an address the
 * kernel chose, and notes the ones this ADD makes (or gives a first port) to pin once the plugin
 * attached its port (`afterAdd`). `release` lets other ADDs of those bridges go.
 */
export async function prepareBridgePins(ctx: RuntimeContext, plugins: readonly ResolvedPlugin[]): Promise<BridgePins> {
  const names = bridgeNamesOf(plugins);
  if (names.length === 0 || ctx.options.pinBridgeMac === false) return NOTHING;
  const deps: IpDeps = { spawner: ctx.options.spawner ?? inProcessSpawner, path: (ctx.options.baseEnv ?? process.env).PATH ?? "" };
  const warn: Warn = (name, what) =>
    ctx.warn(new CniError(CNI_ERROR_CODES.ioFailure, `cannot pin the MAC address of bridge ${name}`, `${what}; the kernel may change it as ports come and go, and the bridge plugin's CHECK then fails`));
  const later: { name: string; finish: () => void }[] = [];
  const release = () => {
    for (const { finish } of later.splice(0)) finish();
  };
  try {
    for (const name of names) {
      const noted = await pinBeforeAdd(deps, name, warn);
      if (noted) later.push({ name, finish: noted.later });
    }
  } catch (error) {
    release();
    throw error;
  }
  if (later.length === 0) return NOTHING;
  const made = later.map((l) => l.name);
  return {
    async afterAdd() {
      for (const name of made) {
        const link = await readLink(deps, name);
        if (link === null || link?.isBridge === false) continue; // the ADD failed to make it
        if (link === undefined || link.mac === ZERO_MAC || link.mac === "") {
          warn(name, link === undefined ? "`ip link show` failed" : `it has no usable address (${link.mac || "none"})`);
          continue;
        }
        const failed = await setMac(deps, name, link.mac);
        if (failed) warn(name, failed);
      }
    },
    release,
  };
}
