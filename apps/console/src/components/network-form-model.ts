import type { Conflist } from "@switchyard/cni/config";

/** The common reference-plugin shapes the form can express; anything else uses the JSON editor. */
export const MAIN_PLUGINS = ["bridge", "macvlan", "ipvlan", "ptp"] as const;
export type MainPlugin = (typeof MAIN_PLUGINS)[number];
export const CHAINED_PLUGINS = ["portmap", "bandwidth", "firewall", "tuning"] as const;
export type ChainedPlugin = (typeof CHAINED_PLUGINS)[number];

export interface NetworkFormValues {
  name: string;
  cniVersion: string;
  type: MainPlugin;
  bridge: string;
  isGateway: boolean;
  ipMasq: boolean;
  master: string;
  mode: string;
  mtu: string;
  subnet: string;
  gateway: string;
  rangeStart: string;
  rangeEnd: string;
  defaultRoute: boolean;
  chained: Record<ChainedPlugin, boolean>;
}

export const EMPTY_FORM: NetworkFormValues = {
  name: "",
  cniVersion: "1.0.0",
  type: "bridge",
  bridge: "",
  isGateway: true,
  ipMasq: true,
  master: "",
  mode: "",
  mtu: "",
  subnet: "",
  gateway: "",
  rangeStart: "",
  rangeEnd: "",
  defaultRoute: true,
  chained: { portmap: true, bandwidth: false, firewall: false, tuning: false },
};

export const MODES: Partial<Record<MainPlugin, string[]>> = {
  macvlan: ["bridge", "private", "vepa", "passthru"],
  ipvlan: ["l2", "l3", "l3s"],
};

function compact<T extends Record<string, unknown>>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== "" && v !== undefined)) as Partial<T>;
}

export function buildConflist(v: NetworkFormValues): Conflist {
  const range = compact({ subnet: v.subnet.trim(), gateway: v.gateway.trim(), rangeStart: v.rangeStart.trim(), rangeEnd: v.rangeEnd.trim() });
  const isV6 = v.subnet.includes(":");
  const ipam = {
    type: "host-local",
    ranges: [[range]],
    ...(v.defaultRoute ? { routes: [{ dst: isV6 ? "::/0" : "0.0.0.0/0" }] } : {}),
  };
  const mtu = v.mtu.trim() === "" ? undefined : Number(v.mtu);
  const main: Record<string, unknown> =
    v.type === "bridge"
      ? compact({ type: "bridge", bridge: v.bridge.trim(), isGateway: v.isGateway, ipMasq: v.ipMasq, mtu, ipam })
      : v.type === "ptp"
        ? compact({ type: "ptp", ipMasq: v.ipMasq, mtu, ipam })
        : compact({ type: v.type, master: v.master.trim(), mode: v.mode, mtu, ipam });
  const chained: Record<string, unknown>[] = [];
  if (v.chained.portmap) chained.push({ type: "portmap", capabilities: { portMappings: true }, snat: true });
  if (v.chained.bandwidth) chained.push({ type: "bandwidth", capabilities: { bandwidth: true } });
  if (v.chained.firewall) chained.push({ type: "firewall" });
  if (v.chained.tuning) chained.push({ type: "tuning" });
  return { cniVersion: v.cniVersion, name: v.name.trim(), plugins: [main, ...chained] } as Conflist;
}

/** The form's view of a stored conflist, or null when it holds more than the form can show. */
export function formFromConflist(c: Conflist): NetworkFormValues | null {
  const [main, ...rest] = c.plugins as Record<string, unknown>[];
  if (!main || !MAIN_PLUGINS.includes(main.type as MainPlugin)) return null;
  const ipam = main.ipam as { type?: string; ranges?: Record<string, string>[][]; routes?: unknown[] } | undefined;
  if (ipam?.type !== "host-local" || ipam.ranges?.length !== 1 || ipam.ranges[0]?.length !== 1) return null;
  if (!rest.every((p) => CHAINED_PLUGINS.includes(p.type as ChainedPlugin))) return null;
  const r = ipam.ranges[0][0]!;
  const types = new Set(rest.map((p) => p.type as ChainedPlugin));
  return {
    name: c.name,
    cniVersion: c.cniVersion ?? "1.0.0",
    type: main.type as MainPlugin,
    bridge: String(main.bridge ?? ""),
    isGateway: main.isGateway === true,
    ipMasq: main.ipMasq === true,
    master: String(main.master ?? ""),
    mode: String(main.mode ?? ""),
    mtu: main.mtu === undefined ? "" : String(main.mtu),
    subnet: r.subnet ?? "",
    gateway: r.gateway ?? "",
    rangeStart: r.rangeStart ?? "",
    rangeEnd: r.rangeEnd ?? "",
    defaultRoute: (ipam.routes?.length ?? 0) > 0,
    chained: { portmap: types.has("portmap"), bandwidth: types.has("bandwidth"), firewall: types.has("firewall"), tuning: types.has("tuning") },
  };
}

/** Maps a conflist field path to the form field showing it. */
export function formFieldOf(path: (string | number)[]): keyof NetworkFormValues | null {
  const last = path.at(-1);
  if (path.length === 1 && last === "name") return "name";
  if (path[0] === "cniVersion" || path[0] === "cniVersions") return "cniVersion";
  if (path[0] === "plugins" && path[1] === 0) {
    if (path[2] === "ipam" && path[3] === "ranges") {
      return last === "subnet" || last === "gateway" || last === "rangeStart" || last === "rangeEnd" ? last : "subnet";
    }
    if (path.length === 3 && (last === "bridge" || last === "master" || last === "mode" || last === "mtu")) return last;
  }
  return null;
}
