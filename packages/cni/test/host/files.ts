import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

export interface Lease {
  ip: string;
  file: string;
  /** First line: the container id; second: the ifname (host-local ≥ 0.9 format). */
  containerId: string;
  ifName?: string;
}

/** host-local's reservations in `<dataDir>/<network>/`: one file per address, named by the address. */
export async function readLeases(dataDir: string, network: string): Promise<Lease[]> {
  const dir = join(dataDir, network);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const leases: Lease[] = [];
  for (const name of names.sort()) {
    if (name === "lock" || name.startsWith("last_reserved_ip")) continue;
    const text = await readFile(join(dir, name), "utf8").catch(() => "");
    const [containerId = "", ifName] = text.split(/\r?\n/).map((s) => s.trim());
    leases.push({ ip: name, file: join(dir, name), containerId, ifName: ifName || undefined });
  }
  return leases;
}

/** Files under `<cacheDir>/results/` (the libcni result cache), names only, sorted. */
export async function listCacheFiles(cacheDir: string): Promise<string[]> {
  try {
    return (await readdir(join(cacheDir, "results"))).sort();
  } catch {
    return [];
  }
}
