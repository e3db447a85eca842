import { parseIp } from "@switchyard/ipam";

/**
 * The one order of a snapshot's lists, so that equal states are equal snapshots and a delta
 * applied gives back exactly the snapshot it was taken from: networks by name, leases by address
 * (IPv4 first, numerically, as the reader returns them), holders by container id and interface.
 */
const text = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export const compareNames = (a: { networkName: string }, b: { networkName: string }) => text(a.networkName, b.networkName);

export const compareHolders = (a: { containerId: string; ifName: string }, b: { containerId: string; ifName: string }) =>
  text(a.containerId, b.containerId) || text(a.ifName, b.ifName);

/** Sorts by address value; texts that are not addresses (none pass the schema) go last, by text. */
export function sortByAddress<T extends { address: string }>(items: T[]): T[] {
  const keyed = items.map((item) => {
    const parsed = parseIp(item.address);
    return { item, family: parsed.ok ? parsed.value.family : 9, value: parsed.ok ? parsed.value.value : 0n };
  });
  keyed.sort((a, b) => a.family - b.family || (a.value < b.value ? -1 : a.value > b.value ? 1 : text(a.item.address, b.item.address)));
  return keyed.map((k) => k.item);
}
