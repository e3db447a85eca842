import type { schemas } from "@switchyard/api";

export type Inventory = schemas.Inventory;

const EMPTY: Inventory = {
  hostname: "",
  kernel: "",
  addresses: [],
  plugins: [],
  cniPath: [],
  netnsDir: "",
  namespaces: [],
  confDir: "",
  confFiles: [],
  cacheDir: "",
  cachedAttachments: [],
  ipForward: { v4: null, v6: null },
  tools: { nft: false, iptables: false, ip: false },
  masquerade: [],
  networkStatus: [],
};

const ARRAY_KEYS = ["addresses", "plugins", "cniPath", "namespaces", "confFiles", "cachedAttachments", "masquerade", "networkStatus"] as const;

/**
 * A host's stored inventory (JSON the server validated when the agent reported it), or null
 * before the first report. Missing lists read as empty so one odd field cannot break the page.
 */
export function readInventory(json: unknown): Inventory | null {
  if (json === null || typeof json !== "object" || Array.isArray(json)) return null;
  const inv = { ...EMPTY, ...(json as Partial<Inventory>) };
  for (const key of ARRAY_KEYS) if (!Array.isArray(inv[key])) (inv as Record<string, unknown>)[key] = [];
  inv.ipForward = { ...EMPTY.ipForward, ...inv.ipForward };
  inv.tools = { ...EMPTY.tools, ...inv.tools };
  return inv;
}
