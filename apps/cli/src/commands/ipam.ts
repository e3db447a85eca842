import type { Ctx } from "../context";
import { CliError, EXIT } from "../exit";
import { age, formatJson, formatTable } from "../format";
import { confirm } from "../prompt";
import { hostByName, networkByName } from "./lookup";

const pct = (n: number, of: number) => (of > 0 ? `${((100 * n) / of).toFixed(1)}%` : "-");

export async function ipamShow(ctx: Ctx, network: string): Promise<number> {
  const client = await ctx.client();
  const { id } = await networkByName(client, network);
  const summary = await client.ipam.summary.query({ networkId: id });
  if (ctx.format === "json") return ctx.out(formatJson(summary)), EXIT.ok;
  ctx.out(
    formatTable(
      ["SUBNET", "USABLE", "LEASED", "USED", "LIVE", "SUSPECT", "RESERVED"],
      summary.subnets.map((s) => [s.cidr, s.usable, s.leased, pct(s.leased, s.usable), s.live, s.suspect, s.reserved]),
    ),
  );
  ctx.out("\n");
  ctx.out(summary.hosts.length === 0 ? "No host has reported leases of this network.\n" : formatTable(["HOST", "LEASES", "REPORTED"], summary.hosts.map((h) => [h.hostName, h.leases, age(h.reportedAt)])));
  return EXIT.ok;
}

export async function ipamWhoHas(ctx: Ctx, address: string, opts: { at?: string }): Promise<number> {
  let at: Date | undefined;
  if (opts.at !== undefined) {
    at = new Date(opts.at);
    if (Number.isNaN(at.getTime())) throw new CliError(EXIT.usage, `--at ${JSON.stringify(opts.at)} is not a time: give ISO 8601, e.g. 2026-12-01T10:00:00Z`);
  }
  const client = await ctx.client();
  const holders = await client.ipam.search.query({ address, at });
  if (ctx.format === "json") return ctx.out(formatJson(holders)), EXIT.ok;
  if (holders.length === 0) return ctx.out(`Nobody ${at ? `held ${address} at ${at.toISOString()}` : `holds ${address}`}.\n`), EXIT.ok;
  ctx.out(formatTable(["NETWORK", "HOST", "CONTAINER", "IFNAME", "ATTACHMENT", "SINCE"], holders.map((h) => [h.networkName, h.hostName, h.containerId, h.ifName, h.attachmentId, age(h.since)])));
  return EXIT.ok;
}

export async function ipamLeaks(ctx: Ctx, network: string, opts: { all?: boolean }): Promise<number> {
  const client = await ctx.client();
  const { id } = await networkByName(client, network);
  const all = await client.ipam.leaks.query({ networkId: id });
  const rows = opts.all ? all : all.filter((l) => l.verdict === "leak" || l.verdict === "unknown");
  if (ctx.format === "json") return ctx.out(formatJson(rows)), EXIT.ok;
  if (rows.length === 0) return ctx.out(`No leaked addresses in ${network}.\n`), EXIT.ok;
  ctx.out(formatTable(["ADDRESS", "HOST", "VERDICT", "CONTAINER", "IFNAME", "SINCE", "WHY"], rows.map((l) => [l.address, l.hostName, l.verdict, l.containerId, l.ifName, age(l.since), l.reasons.join("; ")])));
  return EXIT.ok;
}

export async function ipamRelease(ctx: Ctx, network: string, addresses: string[], opts: { host: string; yes?: boolean; dryRun?: boolean }): Promise<number> {
  const client = await ctx.client();
  const { id: networkId } = await networkByName(client, network);
  const { id: hostId } = await hostByName(client, opts.host);
  const input = { networkId, hostId, addresses };
  const plan = await client.ipam.dryRunRelease.query(input);
  const refused = plan.filter((p) => p.refusal !== null);
  if (ctx.format === "json" && (opts.dryRun || refused.length > 0)) ctx.out(formatJson(plan));
  if (ctx.format === "table") {
    for (const p of plan) {
      ctx.out(`${ctx.c.bold(p.address)} on ${p.hostName} (${p.verdict}${p.containerId ? `, container ${p.containerId} ${p.ifName}` : ""})\n`);
      for (const r of p.reasons) ctx.out(`  ${ctx.c.dim(r)}\n`);
      if (p.refusal) ctx.out(`  ${ctx.c.red(`refused: ${p.refusal}`)}\n`);
      p.steps.forEach((s, i) => ctx.out(`  ${i + 1}. ${s.description}\n`));
    }
  }
  if (refused.length > 0) throw new CliError(EXIT.failed, `nothing released: ${refused.length} of ${plan.length} addresses must not be released (see above)`);
  if (opts.dryRun) return EXIT.ok;
  if (!(await confirm(`Release ${plan.length} address${plan.length === 1 ? "" : "es"} on ${opts.host}?`, { yes: !!opts.yes, flagHint: "release" }))) {
    throw new CliError(EXIT.failed, "release cancelled: nothing released");
  }
  const done = await client.ipam.release.mutate(input);
  if (ctx.format === "json") ctx.out(formatJson(done));
  else ctx.out(`Release ${done.releaseId} queued: ${opts.host}'s agent carries it out${done.detaching.length ? `; detaching ${done.detaching.length} attachment(s)` : ""}.\n`);
  return EXIT.ok;
}
