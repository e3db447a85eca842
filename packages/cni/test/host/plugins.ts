import { existsSync } from "node:fs";
import { join } from "node:path";
import { run } from "./exec";
import { PLUGIN_DIRS } from "./networks";

export function pluginPath(type: string): string {
  const found = PLUGIN_DIRS.map((d) => join(d, type)).find((p) => existsSync(p));
  if (!found) throw new Error(`plugin ${type} not found in ${PLUGIN_DIRS.join(":")}`);
  return found;
}

/** Runs one plugin the way a runtime does (env + stdin), bypassing @switchyard/cni: the test's independent reference. */
export async function invokePluginDirect(opts: {
  type: string;
  command: "ADD" | "DEL" | "CHECK" | "VERSION";
  containerId: string;
  netns: string;
  ifName: string;
  config: Record<string, unknown>;
}): Promise<unknown> {
  const env = {
    PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    CNI_COMMAND: opts.command,
    CNI_CONTAINERID: opts.containerId,
    CNI_NETNS: opts.netns,
    CNI_IFNAME: opts.ifName,
    CNI_PATH: PLUGIN_DIRS.join(":"),
  };
  const { code, stdout, stderr } = await run(pluginPath(opts.type), [], { env, input: JSON.stringify(opts.config), check: false });
  if (code !== 0) throw new Error(`${opts.type} ${opts.command} failed (${code}): ${stdout || stderr}`);
  return stdout.trim() ? (JSON.parse(stdout) as unknown) : undefined;
}
