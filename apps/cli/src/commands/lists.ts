import type { Ctx } from "../context";
import { CliError, EXIT } from "../exit";
import { age, formatJson, formatTable } from "../format";
import { collect, hostByName, networkByName } from "./lookup";

type ListOpts = { search?: string; limit?: number };

function print(ctx: Ctx, value: unknown, table: () => string): number {
  ctx.out(ctx.format === "json" ? formatJson(value) : table());
  return EXIT.ok;
}

export async function networksList(ctx: Ctx, opts: ListOpts): Promise<number> {
  const client = await ctx.client();
  const items = await collect((cursor, limit) => client.networks.list.query({ q: opts.search, cursor, limit }), opts.limit);
  return print(ctx, items, () =>
    items.length === 0
      ? "No networks.\n"
      : formatTable(
          ["NAME", "REVISION", "CNI", "PLUGINS", "ATTACHMENTS", "UPDATED", "BY"],
          items.map((n) => [n.name, n.latestRevision, n.cniVersion, n.plugins.join(","), n.attachments, age(n.updatedAt), n.lastAuthor]),
        ),
  );
}

export async function networksGet(ctx: Ctx, name: string): Promise<number> {
  const client = await ctx.client();
  const found = await networkByName(client, name);
  const network = await client.networks.get.query({ id: found.id });
  return print(ctx, network, () => {
    const text = network.text;
    const warnings = network.warnings.map((w) => `warning: ${typeof w === "string" ? w : (w as { message?: string }).message ?? JSON.stringify(w)}\n`).join("");
    return `${formatTable(["NAME", "REVISION", "PLUGINS", "ATTACHMENTS", "UPDATED"], [[found.name, found.latestRevision, found.plugins.join(","), found.attachments, age(found.updatedAt)]])}\n${text}${text.endsWith("\n") ? "" : "\n"}${warnings}`;
  });
}

const STATES = ["pending", "applying", "ready", "failed", "detaching", "detached"] as const;
type State = (typeof STATES)[number];

export function parseStates(text: string | undefined): State[] | undefined {
  if (text === undefined) return undefined;
  const states = text.split(",").map((s) => s.trim()).filter(Boolean);
  const bad = states.filter((s) => !(STATES as readonly string[]).includes(s));
  if (bad.length > 0 || states.length === 0) throw new CliError(EXIT.usage, `--state ${JSON.stringify(text)}: each state must be one of ${STATES.join(", ")}`);
  return [...new Set(states)] as State[];
}

export async function attachmentsList(ctx: Ctx, opts: ListOpts & { network?: string; host?: string; state?: string }): Promise<number> {
  const states = parseStates(opts.state);
  const client = await ctx.client();
  const networkId = opts.network ? (await networkByName(client, opts.network)).id : undefined;
  const hostId = opts.host ? (await hostByName(client, opts.host)).id : undefined;
  const items = await collect((cursor, limit) => client.attachments.list.query({ q: opts.search, networkId, hostId, states, cursor, limit }), opts.limit);
  return print(ctx, items, () =>
    items.length === 0
      ? "No attachments.\n"
      : formatTable(
          ["ID", "NETWORK", "HOST", "CONTAINER", "IFNAME", "STATE", "ADDRESSES", "REVISION", "AGE"],
          items.map((a) => [
            a.id,
            a.networkName,
            a.host.name,
            a.containerId,
            a.ifName,
            a.state + (a.isOlderRevision ? " (older revision)" : ""),
            (a.result?.ips ?? []).map((ip) => ip.address).join(","),
            a.networkRevision,
            age(a.createdAt),
          ]),
        ),
  );
}

export async function hostsList(ctx: Ctx, opts: ListOpts): Promise<number> {
  const client = await ctx.client();
  const items = await collect((cursor, limit) => client.hosts.list.query({ q: opts.search, cursor, limit }), opts.limit);
  return print(ctx, items, () =>
    items.length === 0
      ? "No hosts.\n"
      : formatTable(
          ["NAME", "STATUS", "AGENT", "ATTACHMENTS", "LAST SEEN", "ENROLLED"],
          items.map((h) => [h.name, h.revokedAt ? "revoked" : String(h.liveness), h.agentVersion, h.attachments, age(h.lastSeenAt), age(h.enrolledAt)]),
        ),
  );
}
