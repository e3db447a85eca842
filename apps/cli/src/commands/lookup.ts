import type { ConsoleClient } from "../client";
import { CliError, EXIT } from "../exit";

/** Pages of a keyset-paged list, followed until `limit` items or the end (bounded). */
export async function collect<T>(page: (cursor: string | undefined, limit: number) => Promise<{ items: T[]; nextCursor: string | null }>, limit = Infinity): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 10_000 && items.length < limit; i++) {
    const p = await page(cursor, Math.min(200, limit - items.length));
    items.push(...p.items);
    if (!p.nextCursor) break;
    cursor = p.nextCursor;
  }
  return items.slice(0, limit);
}

/** The network named `name` (exact), by the list's search. */
export async function networkByName(client: ConsoleClient, name: string) {
  const found = (await collect((cursor, limit) => client.networks.list.query({ q: name, cursor, limit }))).find((n) => n.name === name);
  if (!found) throw new CliError(EXIT.failed, `no network named ${JSON.stringify(name)} (see \`switchyard networks\`)`);
  return found;
}

export async function hostByName(client: ConsoleClient, name: string) {
  const found = (await collect((cursor, limit) => client.hosts.list.query({ q: name, cursor, limit }))).find((h) => h.name === name);
  if (!found) throw new CliError(EXIT.failed, `no host named ${JSON.stringify(name)} (see \`switchyard hosts\`)`);
  return found;
}

export async function serviceByName(client: ConsoleClient, name: string) {
  const found = (await client.services.list.query()).find((s) => s.name === name);
  if (!found) throw new CliError(EXIT.failed, `no service named ${JSON.stringify(name)} (see \`switchyard services\`)`);
  return found;
}
