import { existsSync, readFileSync } from "node:fs";
import { isAbsolute } from "node:path";
import { Command, Option } from "commander";
import { z } from "zod";
import { CONTAINERD_ADDRESS } from "./observed/containerd";
import { APPLY_MODES } from "@switchyard/dataplane/netlink";

export const AGENT_VERSION = "0.1.0";

const AbsPath = z.string().min(1).refine(isAbsolute, "must be an absolute path");

/** Everything the agent reads from flags and environment, validated before it starts. */
export const AgentConfig = z.object({
  consoleUrl: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL of the console" })
    .transform((u) => u.replace(/\/+$/, "")),
  joinToken: z.string().min(1).max(200).optional(),
  dataDir: AbsPath,
  cniPath: z.array(AbsPath).min(1).max(16),
  confDir: AbsPath,
  cacheDir: AbsPath,
  netnsDir: AbsPath,
  hostname: z.string().min(1).max(253),
  pluginTimeoutMs: z.number().int().min(1000).max(600_000),
  /** Per HTTP call to the console (a long poll gets its wait on top): a console that never answers does not hold the agent. */
  consoleTimeoutMs: z.number().int().min(1000).max(600_000),
  /**
   * After a lost push stream, the first reconnect waits a random time up to this (issue 15): 500
   * agents dropped at once by a console restart come back spread over it, not in one burst.
   */
  reconnectSpreadMs: z.number().int().min(0).max(600_000),
  /** How often to reconcile the host with the desired attachments. */
  reconcileIntervalMs: z.number().int().min(1000).max(3_600_000),
  /** How long shutdown waits for operations in flight before journalling them and exiting. */
  shutdownGraceMs: z.number().int().min(0).max(300_000),
  concurrency: z.number().int().min(1).max(64),
  /**
   * Where the services data plane is programmed (issue 12): this host's own network namespace
   * (`host`, the default), a named namespace instead (`netns:<name>`, for labs and tests), or
   * nowhere (`off`: the agent fetches nothing and leaves any table it made as it is).
   */
  services: z.union([
    z.object({ mode: z.literal("host") }),
    z.object({ mode: z.literal("off") }),
    z.object({ mode: z.literal("netns"), netns: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be a named network namespace (letters, digits, '_', '.', '-')") }),
  ], { error: 'must be "host", "off" or "netns:<name>" (a named network namespace)' }),
  /**
   * How the services table is laid out (packages/dataplane/README.md): `compact` (no chain per
   * member unless affinity needs one: 13 s instead of 245 s to load 10,000 services × 10 members
   * on nft 1.0.6, bench/services-nft.ts) or `member-chains` (kube-proxy's shape, a chain per member).
   */
  servicesLayout: z.enum(["compact", "member-chains"], { error: 'must be "compact" or "member-chains"' }),
  servicesApply: z.enum(APPLY_MODES, { error: 'must be "auto", "netlink" or "nft"' }),
  /** The userspace proxy's workers (issue 14): 0 for one per core. */
  proxyWorkers: z.number().int().min(0).max(256),
  /**
   * Containers other runtimes attach (issue 16 §3): auto reports every libcni cache entry this agent
   * did not make, described (and their events followed) by podman when it is on PATH and by
   * containerd when `ctr` is and its socket exists; off reports none.
   */
  observe: z.enum(["auto", "off"]),
  /** containerd's socket, for the containers it starts (`ctr`). */
  containerdAddress: z.string().min(1).max(4096).refine((p) => p.startsWith("/"), "must be an absolute path"),
  /** How often the services table is checked against what was applied, and the desired version fetched again. */
  servicesCheckMs: z.number().int().min(1000).max(3_600_000),
  /** How often the agent pushes its metrics to the console (it serves a snapshot for 120 s: keep this well below). */
  metricsPushMs: z.number().int().min(1000).max(60_000),
  /**
   * Variables of the agent's environment the plugins see beyond the runtime's allow-list (PATH,
   * LANG, LC_ALL, TZ, XDG_RUNTIME_DIR, DBUS_SYSTEM_BUS_ADDRESS): a proxy, a plugin's own setting.
   */
  pluginEnv: z
    .array(
      z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name (letters, digits, _)")
        .refine((n) => !n.startsWith("CNI_"), "CNI_ variables are set by the runtime, not passed through"),
    )
    .max(64),
});
export type AgentConfig = z.infer<typeof AgentConfig>;

/** `host`, `off` or `netns:<name>`; anything else is refused by the schema with the value named. */
function servicesTarget(text: string): unknown {
  if (text === "host" || text === "off") return { mode: text };
  if (text.startsWith("netns:")) return { mode: "netns", netns: text.slice("netns:".length) };
  return { mode: text };
}

const num = (v: string | undefined) => (v === undefined || v === "" ? undefined : Number(v));

/** Flags win over environment variables (SWITCHYARD_*), which win over defaults. */
export function parseConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, hostname: string): AgentConfig {
  const program = new Command("switchyard-agent")
    .description("Switchyard host agent: carries out the console's attachments with the real CNI plugins")
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) })
    .addOption(new Option("--console-url <url>", "console URL the agent dials (it never listens)").env("SWITCHYARD_CONSOLE_URL"))
    .addOption(new Option("--join-token <token>", "single-use join token from the console's Hosts page (first start only)").env("SWITCHYARD_JOIN_TOKEN"))
    .addOption(new Option("--join-token-file <file>", "read the join token from this file (the quick start's local agent)").env("SWITCHYARD_JOIN_TOKEN_FILE"))
    .addOption(new Option("--data-dir <dir>", "credential, intent journal").env("SWITCHYARD_AGENT_DATA_DIR").default("/var/lib/switchyard-agent"))
    .addOption(new Option("--cni-path <dirs>", "plugin directories, colon-separated").env("CNI_PATH").default("/opt/cni/bin:/usr/lib/cni"))
    .addOption(new Option("--conf-dir <dir>", "CNI conf dir (reported, for drift)").env("NETCONFPATH").default("/etc/cni/net.d"))
    .addOption(new Option("--cache-dir <dir>", "CNI result cache dir (libcni's)").env("SWITCHYARD_CNI_CACHE_DIR").default("/var/lib/cni"))
    .addOption(new Option("--netns-dir <dir>", "where named network namespaces live").env("SWITCHYARD_NETNS_DIR").default("/run/netns"))
    .addOption(new Option("--hostname <name>", "name the host enrolls under").env("SWITCHYARD_HOSTNAME"))
    .addOption(new Option("--plugin-timeout <ms>", "per plugin call").env("SWITCHYARD_PLUGIN_TIMEOUT_MS").default("60000"))
    .addOption(new Option("--console-timeout <ms>", "per call to the console (a long poll gets its wait on top)").env("SWITCHYARD_CONSOLE_TIMEOUT_MS").default("30000"))
    .addOption(new Option("--reconnect-spread <ms>", "after a lost push stream, reconnect after a random wait up to this").env("SWITCHYARD_RECONNECT_SPREAD_MS").default("30000"))
    .addOption(new Option("--reconcile-interval <ms>", "periodic reconcile").env("SWITCHYARD_RECONCILE_INTERVAL_MS").default("60000"))
    .addOption(new Option("--shutdown-grace <ms>", "wait for operations in flight at shutdown").env("SWITCHYARD_SHUTDOWN_GRACE_MS").default("20000"))
    .addOption(new Option("--concurrency <n>", "operations at once (one per attachment)").env("SWITCHYARD_AGENT_CONCURRENCY").default("8"))
    .addOption(new Option("--plugin-env <names>", "more variables the plugins see, comma-separated").env("SWITCHYARD_PLUGIN_ENV").default(""))
    .addOption(new Option("--services <where>", "program services here: host, off, or netns:<name>").env("SWITCHYARD_SERVICES").default("host"))
    .addOption(new Option("--services-layout <layout>", "the services table's layout: compact or member-chains").env("SWITCHYARD_SERVICES_LAYOUT").default("compact"))
    .addOption(new Option("--services-apply <how>", "how the services table reaches the kernel: auto (netlink when koffi loads, else nft), netlink or nft").env("SWITCHYARD_SERVICES_APPLY").default("auto"))
    .addOption(new Option("--services-check <ms>", "check the services table and fetch the desired version this often").env("SWITCHYARD_SERVICES_CHECK_MS").default("60000"))
    .addOption(new Option("--observe <mode>", "report containers other runtimes attach (libcni cache, podman, containerd): auto or off").env("SWITCHYARD_OBSERVE").default("auto"))
    .addOption(new Option("--containerd-address <path>", "containerd's socket, for the containers it starts").env("SWITCHYARD_CONTAINERD_ADDRESS").default(CONTAINERD_ADDRESS))
    .addOption(new Option("--proxy-workers <n>", "workers of the userspace proxy (0: one per core)").env("SWITCHYARD_PROXY_WORKERS").default("0"))
    .addOption(new Option("--metrics-push <ms>", "push this agent's metrics to the console this often").env("SWITCHYARD_METRICS_PUSH_MS").default("30000"));
  // commander reads env through process.env; give it ours.
  const saved = { ...process.env };
  try {
    for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v;
    program.parse([...argv], { from: "user" });
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
  const o = program.opts<Record<string, string | undefined>>();
  let joinToken = o.joinToken || undefined;
  if (!joinToken && o.joinTokenFile && existsSync(o.joinTokenFile)) joinToken = readFileSync(o.joinTokenFile, "utf8").trim() || undefined;
  return AgentConfig.parse({
    consoleUrl: o.consoleUrl,
    joinToken,
    dataDir: o.dataDir,
    cniPath: (o.cniPath ?? "").split(":").filter(Boolean),
    confDir: o.confDir,
    cacheDir: o.cacheDir,
    netnsDir: o.netnsDir,
    hostname: o.hostname || hostname,
    pluginTimeoutMs: num(o.pluginTimeout),
    consoleTimeoutMs: num(o.consoleTimeout),
    reconnectSpreadMs: num(o.reconnectSpread),
    reconcileIntervalMs: num(o.reconcileInterval),
    shutdownGraceMs: num(o.shutdownGrace),
    concurrency: num(o.concurrency),
    pluginEnv: (o.pluginEnv ?? "").split(",").map((n) => n.trim()).filter(Boolean),
    services: servicesTarget(o.services ?? "host"),
    servicesCheckMs: num(o.servicesCheck),
    observe: o.observe,
    containerdAddress: o.containerdAddress,
    metricsPushMs: num(o.metricsPush),
    proxyWorkers: num(o.proxyWorkers),
    servicesLayout: o.servicesLayout,
    servicesApply: o.servicesApply,
  });
}

/** `switchyard-agent uninstall`: where the services data plane is removed from (the host, or a test's namespace). */
export const UninstallConfig = AgentConfig.pick({ services: true }).refine((c) => c.services.mode !== "off", {
  path: ["services"],
  message: 'uninstall removes the services table from "host" or "netns:<name>"; "off" names no place',
});
export type UninstallConfig = z.infer<typeof UninstallConfig>;

/** Flags only (no environment: an uninstall is run by hand, not by the unit), `--services host` by default. */
export function parseUninstallConfig(argv: readonly string[]): UninstallConfig {
  const program = new Command("switchyard-agent uninstall")
    .description("Removes what the agent programmed for services: the ip/ip6 switchyard tables, its routes (proto 83) and the sy-svc0 sink")
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) })
    .addOption(new Option("--services <where>", "remove it here: host, or netns:<name>").default("host"));
  program.parse([...argv], { from: "user" });
  return UninstallConfig.parse({ services: servicesTarget(program.opts<{ services: string }>().services) });
}
