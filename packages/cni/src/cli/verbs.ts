/**
 * The verbs themselves, on top of the runtime. cli.ts imports this module only when a verb runs,
 * so `--help` and a wrong invocation never load the runtime, the config validation or node:crypto.
 */
import { resolve as resolvePath } from "node:path";
import { type ProcessRun, type Spawner, inProcessSpawner } from "../exec/spawner";
import { describeFsError } from "../files";
import { type NetworkConfigList, loadConfDir } from "../load";
import type { CniError } from "../errors";
import { validatePassEnv } from "../exec/env";
import { type CniRuntime, type CniRuntimeOptions, type RuntimeConf, createCniRuntime } from "../runtime";
import { containerIdForNetns, parseCapArgs, parseCniArgs, parseCniPath } from "./env";
import { type CliOutput, reportError } from "./report";
import { type CliOptions, DEFAULT_NETCONFPATH, EXIT, type Verb } from "./spec";
import { UsageError } from "./usage-error";

export interface VerbIo {
  env: Readonly<Record<string, string | undefined>>;
  /** Overridable for tests; defaults to `createCniRuntime`. */
  createRuntime?: (opts: CniRuntimeOptions) => CniRuntime;
}

export interface VerbCall {
  verb: Verb;
  net: string;
  netns?: string;
  options: CliOptions;
}

/** Runs one verb and prints its outcome; returns the exit code. */
export async function runVerb(call: VerbCall, io: VerbIo, out: CliOutput): Promise<number> {
  const { verb, net: netName, netns: netnsArg, options: opts } = call;
  /** Everything a verb needs, from argv and the environment; throws UsageError on bad input. */
  const prepare = async () => {
    const confDir = io.env.NETCONFPATH || DEFAULT_NETCONFPATH;
    const capabilityArgs = io.env.CAP_ARGS ? parseCapArgs(io.env.CAP_ARGS) : undefined;
    const args = io.env.CNI_ARGS ? parseCniArgs(io.env.CNI_ARGS) : undefined;
    const ifName = opts.ifname || io.env.CNI_IFNAME || "eth0";
    const net = await findNetwork(confDir, netName);
    const netns = netnsArg === undefined ? "" : resolvePath(netnsArg);
    const rt: RuntimeConf = {
      containerId: opts.containerId ?? (netns ? containerIdForNetns(netns) : ""),
      netns,
      ifName,
      ...(args ? { args } : {}),
      ...(capabilityArgs ? { capabilityArgs } : {}),
    };
    let passEnv: string[];
    try {
      passEnv = validatePassEnv(opts.passEnv);
    } catch (err) {
      throw new UsageError(4, (err as CniError).msg, (err as CniError).details);
    }
    const runtime = (io.createRuntime ?? createCniRuntime)({
      pluginDirs: parseCniPath(io.env.CNI_PATH),
      cacheDir: opts.cacheDir,
      baseEnv: io.env,
      ...(passEnv.length > 0 ? { passEnv } : {}),
      // Problems that did not stop the operation (a fallback to the given config, a corrupt cache file).
      onWarning: (w) => out.warn(`switchyard-cni ${verb}: warning: ${w.message} (CNI error ${w.code})\n`),
      ...(opts.timeout ? { timeoutMs: opts.timeout } : {}),
      ...(verb === "version" ? { spawner: rememberingVersionAnswers(inProcessSpawner) } : {}),
    });
    return { net, rt, runtime };
  };

  let context: Record<string, unknown> = { network: netName };
  try {
    switch (verb) {
      case "add":
      case "check":
      case "del": {
        const { net, rt, runtime } = await prepare();
        context = { network: net.name, netns: rt.netns, containerId: rt.containerId, ifName: rt.ifName };
        if (verb === "add") {
          const result = await runtime.addNetworkList(net, rt);
          if (out.wantsJson) out.json({ ok: true, verb, ...context, result });
          else out.json(result);
        } else {
          if (verb === "check") await runtime.checkNetworkList(net, rt);
          else await runtime.delNetworkList(net, rt, opts.configSource ? { configSource: opts.configSource } : {});
          if (out.wantsJson) out.json({ ok: true, verb, ...context });
        }
        return EXIT.ok;
      }
      case "status": {
        const { net, runtime } = await prepare();
        await runtime.getStatusNetworkList(net);
        if (out.wantsJson) out.json({ ok: true, verb, network: net.name });
        return EXIT.ok;
      }
      case "gc": {
        const valid = opts.valid ?? [];
        if (valid.length === 0 && !opts.drain) {
          throw new UsageError(4, "gc needs the valid attachments", "pass --valid <containerId[:ifname]> for each attachment to keep, or --drain to collect them all");
        }
        if (valid.length > 0 && opts.drain) throw new UsageError(4, "gc: --valid and --drain exclude each other");
        const { net, runtime, rt } = await prepare();
        const validAttachments = valid.map((v) => {
          const [containerId = "", ifName = rt.ifName] = v.split(":");
          return { containerId, ifName };
        });
        await runtime.gcNetworkList(net, { validAttachments, ...(opts.configSource ? { configSource: opts.configSource } : {}) });
        if (out.wantsJson) out.json({ ok: true, verb, network: net.name, validAttachments });
        return EXIT.ok;
      }
      case "version": {
        const { net, runtime } = await prepare();
        context.cniVersion = net.cniVersion;
        // The plugins answer VERSION at once (each run is a process start, on its own core if
        // there is one); a failure is reported for the first plugin in the network's order, as
        // when they ran one after the other.
        const types = uniquePluginTypes(net);
        const answers = await Promise.allSettled(types.map((type) => runtime.getVersionInfo(type)));
        const plugins = answers.map((answer, i) => {
          if (answer.status === "rejected") throw answer.reason;
          return { type: types[i]!, ...answer.value };
        });
        context.plugins = plugins;
        const { capabilities } = await runtime.validateNetworkList(net);
        if (out.wantsJson) out.json({ ok: true, verb, ...context, capabilities });
        else {
          out.print(`network ${net.name}: cniVersion ${net.cniVersion}`);
          for (const p of plugins) out.print(`  ${p.type}: ${p.cniVersion} (supports ${p.supportedVersions.join(", ")})`);
          if (capabilities.length) out.print(`  capabilities: ${capabilities.join(", ")}`);
        }
        return EXIT.ok;
      }
    }
  } catch (err) {
    return reportError(out, verb, err, context);
  }
}

/**
 * A plugin's answer to VERSION does not change within one run: `version` asks each plugin type
 * (getVersionInfo), then validateNetworkList asks the network's plugins again, with the same
 * binary, environment and stdin. The repeat gets the first answer: a bridge + host-local network
 * runs two plugins, not three. Only a successful answer is kept, so a retry still runs.
 */
function rememberingVersionAnswers(spawner: Spawner): Spawner {
  const answers = new Map<string, ProcessRun>();
  return {
    async run(spec, hooks) {
      if (spec.env.CNI_COMMAND !== "VERSION") return spawner.run(spec, hooks);
      const key = JSON.stringify([spec.file, spec.env, spec.stdin]);
      const known = answers.get(key);
      if (known) return known;
      const run = await spawner.run(spec, hooks);
      if (run.exitCode === 0 && !run.spawnError) answers.set(key, run);
      return run;
    },
    close: () => spawner.close(),
  };
}

function uniquePluginTypes(net: NetworkConfigList): string[] {
  const types = new Set<string>();
  for (const p of net.plugins) {
    types.add(p.type);
    const ipam = p.config.ipam as { type?: unknown } | undefined;
    if (typeof ipam?.type === "string" && ipam.type) types.add(ipam.type);
  }
  return [...types];
}

/** libcni's lookup by name in a conf dir; a bad file is reported, and named, only when the network is not found. */
async function findNetwork(confDir: string, name: string): Promise<NetworkConfigList> {
  let loaded: Awaited<ReturnType<typeof loadConfDir>>;
  try {
    loaded = await loadConfDir(confDir);
  } catch (err) {
    throw new UsageError(5, `cannot read NETCONFPATH ${confDir}`, describeFsError(err));
  }
  const net = loaded.networks.find((n) => n.name === name);
  if (net) return net;
  // Each message names its file already.
  const bad = loaded.errors.map((e) => e.error.message).join("; ");
  throw new UsageError(
    7,
    `no network named ${JSON.stringify(name)} in ${confDir}`,
    [loaded.networks.length ? `found: ${loaded.networks.map((n) => n.name).join(", ")}` : "no valid network found", bad ? `unreadable: ${bad}` : ""].filter(Boolean).join("; "),
  );
}
