import { parseCidr } from "@switchyard/ipam";
import { FieldReader, type IssueCollector, type JsonObject, isObject } from "./check";
import type { IssuePath } from "./types";

export interface PluginContext {
  issues: IssueCollector;
  plugin: JsonObject;
  path: IssuePath;
  /** Position in the conflist: 0 is the main plugin, later ones are chained. */
  index: number;
  /** Whether the plugin carries a non-empty ipam object. */
  hasIpam: boolean;
}

type PluginValidator = (ctx: PluginContext, reader: FieldReader) => void;

const MAC_RE = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/;
const SYSCTL_KEY_RE = /^net\.[A-Za-z0-9_.\-/]+$/;
// iptables chain names are limited to 28 characters.
const CHAIN_RE = /^[A-Za-z0-9][A-Za-z0-9_\-]{0,27}$/;

function requireIpam(ctx: PluginContext, type: string, note: string): void {
  if (!Object.hasOwn(ctx.plugin, "ipam")) {
    ctx.issues.error([...ctx.path, "ipam"], `ipam is required for ${type}: ${note}`);
  }
}

function requireIpamType(ctx: PluginContext, type: string): void {
  const ipam = ctx.plugin.ipam;
  if (!Object.hasOwn(ctx.plugin, "ipam")) {
    ctx.issues.error([...ctx.path, "ipam"], `ipam is required for ${type}: it gives both ends of the link their addresses, e.g. {"type": "host-local", …}`);
  } else if (isObject(ipam) && !Object.hasOwn(ipam, "type")) {
    ctx.issues.error([...ctx.path, "ipam", "type"], `ipam.type is required for ${type}: an empty ipam leaves the link without addresses`);
  }
}

function warnIfFirst(ctx: PluginContext, type: string): void {
  if (ctx.index === 0) {
    ctx.issues.warn([...ctx.path, "type"], `${type} is a chained plugin: it expects an earlier plugin (such as bridge or ptp) in the list`);
  }
}

const bridge: PluginValidator = (ctx, r) => {
  r.ifName("bridge");
  for (const key of [
    "isGateway",
    "isDefaultGateway",
    "forceAddress",
    "ipMasq",
    "hairpinMode",
    "promiscMode",
    "enabledad",
    "macspoofchk",
    "preserveDefaultVlan",
    "disableContainerInterface",
    "portIsolation",
  ]) {
    r.boolean(key);
  }
  r.oneOf("ipMasqBackend", ["iptables", "nftables"]);
  r.mtu();
  r.integer("vlan", 0, 4094, "0 for untagged");
  r.array("vlanTrunk")?.forEach((entry, index) => {
    const path = [...r.at("vlanTrunk"), index];
    if (!isObject(entry)) {
      ctx.issues.error(path, `vlanTrunk entries must be objects like {"id": 10} or {"minID": 10, "maxID": 20}`);
      return;
    }
    const t = new FieldReader(ctx.issues, entry, path);
    t.integer("id", 1, 4094);
    t.integer("minID", 1, 4094);
    t.integer("maxID", 1, 4094);
  });
  requireIpam(ctx, "bridge", 'give an IPAM plugin, or {} for a layer-2-only network');
};

const macvlan: PluginValidator = (ctx, r) => {
  // master is optional: the plugin defaults to the interface of the default route.
  r.ifName("master");
  r.oneOf("mode", ["bridge", "private", "vepa", "passthru"]);
  r.mtu();
  r.boolean("linkInContainer");
  requireIpam(ctx, "macvlan", 'give an IPAM plugin, or {} for an interface without addresses');
};

const ipvlan: PluginValidator = (ctx, r) => {
  r.ifName("master");
  r.oneOf("mode", ["l2", "l3", "l3s"]);
  r.mtu();
  r.boolean("linkInContainer");
  if (ctx.index === 0) requireIpam(ctx, "ipvlan", "it is required unless ipvlan is chained after another plugin");
};

const ptp: PluginValidator = (ctx, r) => {
  r.boolean("ipMasq");
  r.oneOf("ipMasqBackend", ["iptables", "nftables"]);
  r.mtu();
  requireIpamType(ctx, "ptp");
};

const portmap: PluginValidator = (ctx, r) => {
  warnIfFirst(ctx, "portmap");
  r.boolean("snat");
  r.integer("markMasqBit", 0, 31);
  r.string("externalSetMarkChain", (v) => (CHAIN_RE.test(v) ? undefined : "must be an iptables chain name of up to 28 letters, digits, \"_\" or \"-\""));
  r.oneOf("backend", ["iptables", "nftables"]);
  r.stringArray("conditionsV4");
  r.stringArray("conditionsV6");
  const capabilities = ctx.plugin.capabilities;
  if (!isObject(capabilities) || capabilities.portMappings !== true) {
    ctx.issues.warn(
      [...ctx.path, "capabilities"],
      'portmap receives no port mappings without "capabilities": {"portMappings": true}',
    );
  }
};

const BANDWIDTH_MAX = Number.MAX_SAFE_INTEGER;

const bandwidth: PluginValidator = (ctx, r) => {
  warnIfFirst(ctx, "bandwidth");
  for (const direction of ["ingress", "egress"] as const) {
    const rateKey = `${direction}Rate`;
    const burstKey = `${direction}Burst`;
    const rate = r.integer(rateKey, 0, BANDWIDTH_MAX, "bits per second");
    const burst = r.integer(burstKey, 0, BANDWIDTH_MAX, "bits");
    if (rate === undefined && r.has(rateKey)) continue;
    if (burst === undefined && r.has(burstKey)) continue;
    const rateValue = rate ?? 0;
    const burstValue = burst ?? 0;
    if (rateValue > 0 && burstValue === 0) {
      ctx.issues.error(r.at(burstKey), `${burstKey} must be set when ${rateKey} is ${rateValue}: the bandwidth plugin needs both`);
    } else if (burstValue > 0 && rateValue === 0) {
      ctx.issues.error(r.at(rateKey), `${rateKey} must be set when ${burstKey} is ${burstValue}: the bandwidth plugin needs both`);
    } else if (burstValue / 8 >= 2 ** 32) {
      ctx.issues.error(r.at(burstKey), `${burstKey} ${burstValue} is too large: the burst must be under 4 GiB (${2 ** 32 * 8} bits)`);
    }
  }
  const cidrCheck = (v: string) => {
    const parsed = parseCidr(v, { allowHostBits: true });
    return parsed.ok ? undefined : parsed.error.message;
  };
  const unshaped = r.stringArray("unshapedSubnets", cidrCheck);
  const shaped = r.stringArray("shapedSubnets", cidrCheck);
  if (unshaped && shaped && unshaped.length > 0 && shaped.length > 0) {
    ctx.issues.error(r.at("shapedSubnets"), "shapedSubnets and unshapedSubnets cannot both be set: choose one");
  }
};

const firewall: PluginValidator = (ctx, r) => {
  warnIfFirst(ctx, "firewall");
  r.oneOf("backend", ["iptables", "firewalld"]);
  r.string("firewalldZone", (v) => (/^[A-Za-z0-9_\-]{1,64}$/.test(v) ? undefined : "must be a firewalld zone name of letters, digits, \"_\" or \"-\""));
  r.string("iptablesAdminChainName", (v) => (CHAIN_RE.test(v) ? undefined : "must be an iptables chain name of up to 28 letters, digits, \"_\" or \"-\""));
  r.oneOf("ingressPolicy", ["open", "same-bridge", "isolated"]);
};

const tuning: PluginValidator = (ctx, r) => {
  const sysctl = r.object("sysctl");
  if (sysctl) {
    for (const [key, value] of Object.entries(sysctl)) {
      const path = [...r.at("sysctl"), key];
      if (!SYSCTL_KEY_RE.test(key) || key.includes("..")) {
        ctx.issues.error(path, `sysctl key ${JSON.stringify(key)} is not allowed: tuning sets only "net.*" keys, without ".."`);
      }
      if (typeof value !== "string") {
        ctx.issues.error(path, `sysctl ${JSON.stringify(key)} must have a string value (like "1"), got ${JSON.stringify(value)}`);
      }
    }
  }
  r.string("mac", (v) => (MAC_RE.test(v) ? undefined : 'must be six hex pairs separated by ":", like "c2:11:22:33:44:55"'));
  r.mtu();
  r.boolean("promisc");
  r.boolean("allmulti");
  r.integer("txQLen", 0, 2 ** 31 - 1);
  r.string("dataDir", (v) => (v.startsWith("/") && !v.split("/").includes("..") ? undefined : 'must be an absolute path without ".."'));
};

/** Plugins with documented configuration; any other type is allowed with only the generic rules. */
export const KNOWN_PLUGINS: Readonly<Record<string, PluginValidator>> = {
  bridge,
  macvlan,
  ipvlan,
  ptp,
  portmap,
  bandwidth,
  firewall,
  tuning,
};

export function validateKnownPlugin(ctx: PluginContext, type: string): void {
  const validator = Object.hasOwn(KNOWN_PLUGINS, type) ? KNOWN_PLUGINS[type] : undefined;
  validator?.(ctx, new FieldReader(ctx.issues, ctx.plugin, ctx.path));
}
