import type { Db } from "@switchyard/db";
import { formatRelative } from "../format";
import type { StoredInventory as Inventory } from "../schemas";
import { getHost, type ConfDrift } from "./hosts";
import { deploymentsForHost } from "./networkDeployments";
import { readInventory } from "./parsed";
import { dbNow } from "../clock";

/** info: worth knowing, nothing to fix (a fresh host without a conf dir). */
export type CheckStatus = "pass" | "fail" | "unknown" | "info";

export interface DoctorCheck {
  id: "agent" | "push-stream" | "plugins" | "conf-files" | "conf-drift" | "deployments" | "namespaces" | "ip-forward" | "masquerade" | "firewall-tools" | "network-status" | "inventory-fresh";
  title: string;
  status: CheckStatus;
  /** What was found; when failing, one line per problem. */
  details: string[];
  /** How to fix it; only when failing, and only for the failures found. Commands are in `backticks`. */
  fix?: string;
}

export interface DoctorHost {
  liveness: "online" | "offline" | "revoked";
  lastSeenAt: Date | null;
  inventory: unknown;
  inventoryAt: Date | null;
  /** The conf dir's files against the console's networks (hosts.get computes it). */
  confDrift?: ConfDrift[];
}

export interface DoctorAttachment {
  networkId: string;
  networkName: string;
  networkRevision: number;
  containerId: string;
  ifName: string;
  targetKind: "netns" | "pid" | "sandbox";
  target: string;
  state: "pending" | "applying" | "ready" | "failed" | "detaching" | "detached";
}

/** The conflist of one network revision that an attachment on the host uses. */
export interface DoctorNetwork {
  networkId: string;
  revision: number;
  conflist: unknown;
}

/** The networks placed on the host (their latest revisions) and what its agent last reported of their files (issue 16). */
export interface DoctorDeployments {
  wants: { network: string; revision: number }[];
  files: { networkName: string; file: string; state: string; revision: number | null; change: string; error: string; conflictWith: string[] }[];
  confDirError: string;
}

export interface DiagnoseInput {
  host: DoctorHost;
  attachments: DoctorAttachment[];
  networks: DoctorNetwork[];
  deployments?: DoctorDeployments;
  now: Date;
}

/** The agent sends its inventory with heartbeats; older than this means it stopped reporting. */
export const INVENTORY_FRESH_MS = 2 * 60_000;

const NO_INVENTORY = "The agent has not reported an inventory yet.";

interface PluginConf {
  type?: unknown;
  ipMasq?: unknown;
  isGateway?: unknown;
  ipam?: { type?: unknown };
}

function pluginsOf(conflist: unknown): PluginConf[] {
  const plugins = (conflist as { plugins?: unknown } | null)?.plugins;
  return Array.isArray(plugins) ? plugins.filter((p): p is PluginConf => p !== null && typeof p === "object") : [];
}

/** Plugin binaries a conflist runs: each plugin's type and its IPAM plugin's type. */
function pluginTypesOf(conflist: unknown): string[] {
  return pluginsOf(conflist).flatMap((p) => [p.type, p.ipam?.type].filter((t): t is string => typeof t === "string" && t !== ""));
}

function needsForwarding(conflist: unknown): boolean {
  return pluginsOf(conflist).some((p) => p.type === "bridge" && (p.ipMasq === true || p.isGateway === true));
}

function label(a: DoctorAttachment): string {
  return `${a.containerId}/${a.ifName} on ${a.networkName}`;
}

/**
 * Checks a host against what its attachments need, from what the console knows: liveness,
 * the agent's inventory, the attachments and the conflists of the network revisions they use.
 */
export function diagnoseHost(input: DiagnoseInput): DoctorCheck[] {
  const inventory = readInventory(input.host.inventory);
  // Detaching attachments still need their plugins: DEL runs them too.
  const active = input.attachments.filter((a) => a.state !== "detached");
  const conflistOf = (a: DoctorAttachment) => input.networks.find((n) => n.networkId === a.networkId && n.revision === a.networkRevision)?.conflist;
  const ctx = { input, inventory, active, conflistOf };
  return [
    checkAgent(input),
    checkPushStream(input, inventory),
    checkPlugins(ctx),
    checkConfFiles(inventory),
    checkConfDrift(input.host, inventory),
    checkDeployments(input.deployments),
    checkNamespaces(inventory, active),
    checkIpForward(ctx),
    checkMasquerade(inventory),
    checkFirewallTools(inventory),
    checkNetworkStatus(inventory),
    checkInventoryFresh(input),
  ];
}

interface Ctx {
  input: DiagnoseInput;
  inventory: Inventory | null;
  active: DoctorAttachment[];
  conflistOf: (a: DoctorAttachment) => unknown;
}

function checkAgent({ host, now }: DiagnoseInput): DoctorCheck {
  const title = "Agent connected";
  const seen = host.lastSeenAt ? `Last seen ${formatRelative(host.lastSeenAt, now)}.` : "Never seen.";
  if (host.liveness === "online") return { id: "agent", title, status: "pass", details: [seen] };
  if (host.liveness === "revoked") {
    return { id: "agent", title, status: "fail", details: ["The host is revoked: its credential is refused."], fix: "Create a join token under Hosts and enrol the host again with it." };
  }
  return {
    id: "agent",
    title,
    status: "fail",
    details: [`The agent is offline. ${seen}`],
    fix: "Start the agent on the host (its service, or the command under Hosts → Add a host) and check that the host reaches this console's URL (DNS, firewall, proxy): the agent dials out.",
  };
}

function checkPlugins({ inventory, active, conflistOf }: Ctx): DoctorCheck {
  const title = "Plugins present and executable";
  if (!inventory) return { id: "plugins", title, status: "unknown", details: [NO_INVENTORY] };
  const usedBy = new Map<string, Set<string>>();
  const unloaded = new Set<string>();
  for (const a of active) {
    const conflist = conflistOf(a);
    if (conflist === undefined) {
      unloaded.add(`${a.networkName} r${a.networkRevision}`);
      continue;
    }
    for (const type of pluginTypesOf(conflist)) usedBy.set(type, (usedBy.get(type) ?? new Set()).add(a.networkName));
  }
  const problems: string[] = [];
  const missing: string[] = [];
  const notExecutable: string[] = [];
  for (const [type, networks] of [...usedBy].sort(([x], [y]) => x.localeCompare(y))) {
    const plugin = inventory.plugins.find((p) => p.name === type);
    const users = [...networks].sort().join(", ");
    if (!plugin) {
      missing.push(type);
      problems.push(`"${type}" (used by ${users}) is not in CNI_PATH ${inventory.cniPath.join(":") || "(empty)"}`);
    } else if (!plugin.executable) {
      notExecutable.push(plugin.path);
      problems.push(`${plugin.path} (used by ${users}) is not executable`);
    }
  }
  if (problems.length > 0) {
    const fixes = [
      ...(notExecutable.length > 0 ? [`Make ${notExecutable.length === 1 ? "it" : "them"} executable: \`chmod 755 ${notExecutable.join(" ")}\`.`] : []),
      ...(missing.length > 0
        ? [`Install the reference plugins (\`apt install containernetworking-plugins\`) or put ${missing.map((m) => `"${m}"`).join(", ")}, executable, in one of ${inventory.cniPath.join(", ") || "the agent's --cni-path directories"}.`]
        : []),
    ];
    return { id: "plugins", title, status: "fail", details: problems, fix: fixes.join(" ") };
  }
  if (unloaded.size > 0) return { id: "plugins", title, status: "unknown", details: [`Network config not loaded: ${[...unloaded].join(", ")}`] };
  if (usedBy.size === 0) return { id: "plugins", title, status: "pass", details: ["No attachment on this host needs a plugin yet."] };
  return { id: "plugins", title, status: "pass", details: [`Found: ${[...usedBy.keys()].sort().join(", ")}`] };
}

/** The agent reports an unreadable conf dir as one entry naming the directory itself. */
function confDirProblem(inventory: Inventory): { missing: boolean; error: string } | null {
  const entry = inventory.confFiles.find((f) => f.error && inventory.confDir !== "" && f.file.replace(/\/+$/, "") === inventory.confDir.replace(/\/+$/, ""));
  if (!entry?.error) return null;
  return { missing: /ENOENT|no such file/i.test(entry.error), error: entry.error };
}

function checkConfFiles(inventory: Inventory | null): DoctorCheck {
  const title = "Conf files valid";
  if (!inventory) return { id: "conf-files", title, status: "unknown", details: [NO_INVENTORY] };
  const dir = inventory.confDir || "the CNI conf dir";
  const dirProblem = confDirProblem(inventory);
  if (dirProblem?.missing) {
    // A fresh host: the agent attaches with the console's configs and needs no conf dir.
    return {
      id: "conf-files",
      title,
      status: "info",
      details: [`${dir} does not exist: no conf files on this host. The agent attaches with the console's network configs; tools on the host (containerd, nerdctl, cnitool) find none until one is exported there.`],
    };
  }
  if (dirProblem) {
    return {
      id: "conf-files",
      title,
      status: "fail",
      details: [`${dir} cannot be read: ${dirProblem.error}`],
      fix: `Make ${dir} a directory the agent (root) can read: \`ls -ld ${dir}\` shows what it is now.`,
    };
  }
  const bad = inventory.confFiles.filter((f) => f.error);
  if (bad.length === 0) return { id: "conf-files", title, status: "pass", details: [`${inventory.confFiles.length} file${inventory.confFiles.length === 1 ? "" : "s"} in ${dir}`] };
  return {
    id: "conf-files",
    title,
    status: "fail",
    details: bad.map((f) => (f.error!.startsWith(`${f.file}:`) ? f.error! : `${f.file}: ${f.error}`)),
    fix: `Correct or remove ${bad.length === 1 ? "this file" : "these files"} in ${dir}: tools reading the directory skip or refuse an invalid file.`,
  };
}

/** A push stream closed for less than this is still (re)connecting. */
const STREAM_GRACE_MS = 30_000;

function checkPushStream({ host, now }: DiagnoseInput, inventory: Inventory | null): DoctorCheck {
  const title = "Push stream open";
  if (!inventory) return { id: "push-stream", title, status: "unknown", details: [NO_INVENTORY] };
  if (host.liveness !== "online") return { id: "push-stream", title, status: "unknown", details: ["The agent is not connected."] };
  if (!inventory.pushStream) return { id: "push-stream", title, status: "unknown", details: ["This agent version does not report its push stream."] };
  const since = new Date(inventory.pushStream.since);
  if (inventory.pushStream.open) return { id: "push-stream", title, status: "pass", details: [`Open since ${formatRelative(since, now)}: work reaches the agent at once.`] };
  if (now.getTime() - since.getTime() < STREAM_GRACE_MS) return { id: "push-stream", title, status: "pass", details: [`Connecting (closed ${formatRelative(since, now)}).`] };
  return {
    id: "push-stream",
    title,
    status: "fail",
    details: [`Closed since ${formatRelative(since, now)}: the agent long-polls instead, so work still arrives, through polls.`],
    fix: 'Something between the agent and the console cuts or buffers server-sent events (text/event-stream): a proxy needs response buffering off (nginx: `proxy_buffering off;`) and a read timeout above a minute. The agent logs "push stream lost" with the reason.',
  };
}

function checkConfDrift(host: DoctorHost, inventory: Inventory | null): DoctorCheck {
  const title = "Conf files match the console";
  if (!inventory) return { id: "conf-drift", title, status: "unknown", details: [NO_INVENTORY] };
  const drift = host.confDrift ?? [];
  const unmanaged = drift.filter((d) => d.status === "unmanaged").map((d) => d.networkName);
  const others = unmanaged.length > 0 ? [`Not Switchyard networks: ${[...new Set(unmanaged)].sort().join(", ")}.`] : [];
  const behind = drift.filter((d) => d.status === "older" || d.status === "differs");
  if (behind.length === 0) {
    const inSync = drift.filter((d) => d.status === "in-sync").length;
    return { id: "conf-drift", title, status: "pass", details: [`${inSync} file${inSync === 1 ? "" : "s"} at the network's latest revision.`, ...others] };
  }
  return {
    id: "conf-drift",
    title,
    status: "fail",
    details: [
      ...behind.map((d) =>
        d.status === "older" ? `${d.file}: network ${d.networkName} revision ${d.revision}; the latest is ${d.latestRevision}.` : `${d.file}: differs from every revision of network ${d.networkName}.`,
      ),
      ...others,
    ],
    fix: `Export the network's latest revision (Networks → the network → Export) over the file in ${inventory.confDir || "the CNI conf dir"}, or import the host's file as a new revision if it is the one to keep. The agent attaches with the console's revision; containerd, nerdctl and cnitool read the file.`,
  };
}

function checkDeployments(d: DoctorDeployments | undefined): DoctorCheck {
  const title = "Networks deployed to this host are in its conf dir";
  if (!d || (d.wants.length === 0 && d.files.length === 0 && !d.confDirError)) return { id: "deployments", title, status: "info", details: ["No network is deployed to this host."] };
  const problems: string[] = [];
  if (d.confDirError) problems.push(d.confDirError);
  for (const f of d.files) {
    if (f.state === "failed") problems.push(`${f.file}: ${f.error}`);
    else if (f.state === "conflict") problems.push(`${f.networkName}: not written, ${f.conflictWith.join(", ")} also define${f.conflictWith.length === 1 ? "s" : ""} it (a file Switchyard did not write).`);
    else if (f.state === "drifted") problems.push(`${f.file}: ${f.change || "changed"} by hand; left as it is (the network's drift policy is warn).`);
    else if (f.state === "left") problems.push(`${f.file}: edited by hand after network ${f.networkName} left the host; left as it is.`);
  }
  if (problems.length > 0) {
    return {
      id: "deployments",
      title,
      status: "fail",
      details: problems,
      fix: "Remove or rename the file that defines the network too (or the network in Switchyard), make the conf dir writable for the agent, or restore a hand-edited file: set the network's drift policy to restore, or delete the file and the agent writes it again.",
    };
  }
  const behind = d.wants.filter((w) => !d.files.some((f) => f.networkName === w.network && f.state === "deployed" && f.revision === w.revision));
  if (behind.length > 0) return { id: "deployments", title, status: "unknown", details: behind.map((w) => `${w.network}: revision ${w.revision} not reported written yet.`) };
  return { id: "deployments", title, status: "pass", details: [`${d.wants.length} network${d.wants.length === 1 ? "" : "s"} at ${d.wants.length === 1 ? "its" : "their"} latest revision: ${d.wants.map((w) => `${w.network} r${w.revision}`).join(", ")}.`] };
}

function checkNamespaces(inventory: Inventory | null, active: DoctorAttachment[]): DoctorCheck {
  const title = "Network namespaces exist";
  if (!inventory) return { id: "namespaces", title, status: "unknown", details: [NO_INVENTORY] };
  const named = active.filter((a) => a.state === "ready" && (a.targetKind === "netns" || a.targetKind === "sandbox"));
  const present = new Set(inventory.namespaces);
  const missing = named.filter((a) => !present.has(a.target));
  if (missing.length === 0) return { id: "namespaces", title, status: "pass", details: [`${named.length} namespace${named.length === 1 ? "" : "s"} of ready attachments found`] };
  return {
    id: "namespaces",
    title,
    status: "fail",
    details: missing.map((a) => `${label(a)}: namespace "${a.target}" is not in ${inventory.netnsDir || "the netns dir"}`),
    fix: [
      ...(missing.some((a) => a.targetKind === "netns")
        ? [`A named namespace is made outside Switchyard: recreate it (\`ip netns add ${missing.find((a) => a.targetKind === "netns")!.target}\`) and its container, then Detach and attach again, or Detach it.`]
        : []),
      ...(missing.some((a) => a.targetKind === "sandbox") ? ["A sandbox's namespace is the agent's: Detach the attachment (DEL releases its address) and attach again for a new sandbox."] : []),
    ].join(" "),
  };
}

function checkIpForward({ inventory, active, conflistOf }: Ctx): DoctorCheck {
  const title = "IP forwarding on";
  if (!inventory) return { id: "ip-forward", title, status: "unknown", details: [NO_INVENTORY] };
  const needing = [...new Set(active.filter((a) => a.state !== "detaching" && needsForwarding(conflistOf(a))).map((a) => a.networkName))].sort();
  const state = `net.ipv4.ip_forward is ${inventory.ipForward.v4 === null ? "unknown" : inventory.ipForward.v4 ? "1" : "0"}`;
  if (needing.length === 0) return { id: "ip-forward", title, status: "pass", details: [`No attached network routes through the host (${state}).`] };
  const why = `Needed by ${needing.join(", ")} (bridge with ipMasq or isGateway).`;
  if (inventory.ipForward.v4 === null) return { id: "ip-forward", title, status: "unknown", details: [why, "The agent could not read net.ipv4.ip_forward."] };
  if (inventory.ipForward.v4) return { id: "ip-forward", title, status: "pass", details: [why, state] };
  return {
    id: "ip-forward",
    title,
    status: "fail",
    details: [why, state],
    fix: "Turn it on: `sysctl -w net.ipv4.ip_forward=1` (and set it in /etc/sysctl.d/ to keep it after a reboot).",
  };
}

function checkMasquerade(inventory: Inventory | null): DoctorCheck {
  const title = "Masquerade rules present";
  if (!inventory) return { id: "masquerade", title, status: "unknown", details: [NO_INVENTORY] };
  const missing = inventory.masquerade.filter((m) => !m.present);
  if (missing.length === 0) {
    const n = inventory.masquerade.length;
    return { id: "masquerade", title, status: "pass", details: [n === 0 ? "No network on this host masquerades." : `${n} rule${n === 1 ? "" : "s"} found`] };
  }
  const noTools = !inventory.tools.nft && !inventory.tools.iptables;
  return {
    id: "masquerade",
    title,
    status: "fail",
    details: missing.map((m) => `${m.networkName}: no masquerade rule for ${m.containerId ? `${m.containerId} (${m.subnet})` : m.subnet}`),
    fix: noTools
      ? "Install iptables or nftables first (`apt install iptables`): the bridge plugin writes its masquerade rules with them. Then Detach and attach these attachments again."
      : "The bridge plugin writes an attachment's masquerade rule on ADD only (a Check reports it missing but does not add it, and a firewall reload removes it): Detach and attach the attachment again.",
  };
}

function checkFirewallTools(inventory: Inventory | null): DoctorCheck {
  const title = "nftables / iptables available";
  if (!inventory) return { id: "firewall-tools", title, status: "unknown", details: [NO_INVENTORY] };
  const { nft, iptables, ip } = inventory.tools;
  const found = [nft && "nft", iptables && "iptables", ip && "ip"].filter(Boolean).join(", ") || "none";
  const details = [`Found: ${found}`, ...(ip ? [] : ["ip (iproute2) is missing: the agent needs it to manage namespaces."])];
  if (nft || iptables) return { id: "firewall-tools", title, status: "pass", details };
  return {
    id: "firewall-tools",
    title,
    status: "fail",
    details,
    fix: "Install one: `apt install nftables` (or `apt install iptables`); masquerade, portmap and firewall plugins need it.",
  };
}

function checkNetworkStatus(inventory: Inventory | null): DoctorCheck {
  const title = "Networks ready (CNI STATUS)";
  if (!inventory) return { id: "network-status", title, status: "unknown", details: [NO_INVENTORY] };
  const down = inventory.networkStatus.filter((n) => !n.ready);
  if (down.length === 0) {
    const n = inventory.networkStatus.length;
    return { id: "network-status", title, status: "pass", details: [n === 0 ? "No network is attached on this host." : `${n} network${n === 1 ? "" : "s"} ready (before CNI 1.1.0 a network counts as ready)`] };
  }
  return {
    id: "network-status",
    title,
    status: "fail",
    details: down.map((n) => `${n.networkName}: ${n.error ?? "not ready"}`),
    fix: "A plugin of the network says it cannot serve requests now (CNI STATUS, code 50/51): read its error above; usually a daemon it needs on the host (its IPAM backend, e.g. the dhcp daemon) is down, so start it.",
  };
}

function checkInventoryFresh({ host, now }: DiagnoseInput): DoctorCheck {
  const title = "Inventory fresh";
  if (host.liveness === "revoked") return { id: "inventory-fresh", title, status: "unknown", details: ["The host is revoked: its agent reports nothing."] };
  const offline = host.liveness !== "online";
  const fix = offline
    ? "The agent is offline (see Agent connected): once it runs again it reports a fresh inventory."
    : "The agent heartbeats but sends no inventory: its log says why collecting it failed; restart the agent or press Reconcile now.";
  if (!host.inventoryAt) return { id: "inventory-fresh", title, status: "fail", details: ["No inventory reported yet."], fix };
  const age = now.getTime() - host.inventoryAt.getTime();
  const details = [`Reported ${formatRelative(host.inventoryAt, now)}.`];
  return age <= INVENTORY_FRESH_MS ? { id: "inventory-fresh", title, status: "pass", details } : { id: "inventory-fresh", title, status: "fail", details, fix };
}

/**
 * The doctor for one host, in one call: the host, its attachments and the conflists of exactly
 * the network revisions they run (not the networks' latest: that is what the agent runs), read
 * with three queries whatever the number of networks.
 */
export async function diagnoseHostById(db: Db, id: string, now = dbNow()): Promise<{ checks: DoctorCheck[]; at: Date }> {
  const host = await getHost(db, id);
  const attachments = await db.attachment.findMany({
    where: { hostId: id, state: { not: "detached" } },
    select: { networkId: true, networkName: true, networkRevision: true, containerId: true, ifName: true, targetKind: true, target: true, state: true },
  });
  const networks = await db.$queryRaw<DoctorNetwork[]>`
    SELECT r."networkId", r.number AS revision, r.conflist
    FROM "NetworkRevision" r
    JOIN (SELECT DISTINCT "networkId", "networkRevision" FROM "Attachment" WHERE "hostId" = ${id}::text AND state <> 'detached') a
      ON a."networkId" = r."networkId" AND a."networkRevision" = r.number`;
  const [wants, files, confDir] = await Promise.all([
    deploymentsForHost(db, id),
    db.hostNetworkFile.findMany({ where: { hostId: id }, select: { networkName: true, file: true, state: true, revision: true, change: true, error: true, conflictWith: true }, orderBy: { networkName: "asc" } }),
    db.host.findUnique({ where: { id }, select: { confDirError: true } }),
  ]);
  const deployments: DoctorDeployments = {
    wants: wants.map((w) => ({ network: w.network, revision: w.revision })),
    files: files.map((f) => ({ ...f, conflictWith: f.conflictWith as string[] })),
    confDirError: confDir?.confDirError ?? "",
  };
  return { checks: diagnoseHost({ host, attachments, networks, deployments, now }), at: now };
}
