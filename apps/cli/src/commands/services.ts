import type { Ctx } from "../context";
import { CliError, EXIT } from "../exit";
import { age, formatJson, formatTable } from "../format";
import { changeMember, parseMemberRef, type MemberChange } from "../members";
import { serviceByName } from "./lookup";

const ports = (ps: { protocol: string; port: number; targetPort: number }[]) => ps.map((p) => `${p.port}/${p.protocol}→${p.targetPort}`).join(",");

export async function servicesList(ctx: Ctx): Promise<number> {
  const client = await ctx.client();
  const items = await client.services.list.query();
  if (ctx.format === "json") return ctx.out(formatJson(items)), EXIT.ok;
  ctx.out(
    items.length === 0
      ? "No services.\n"
      : formatTable(
          ["NAME", "VIP", "PORTS", "MEMBERS", "HOSTS", "REVISION"],
          items.map((s) => [s.name, s.vip, ports(s.ports), `${s.members.selectable}/${s.members.total}`, `${s.hosts.applied}/${s.hosts.total}${s.hosts.failed ? ` (${s.hosts.failed} failed)` : ""}`, s.revision]),
        ),
  );
  return EXIT.ok;
}

export async function servicesGet(ctx: Ctx, name: string): Promise<number> {
  const client = await ctx.client();
  const service = await client.services.get.query({ id: (await serviceByName(client, name)).id });
  if (ctx.format === "json") return ctx.out(formatJson(service)), EXIT.ok;
  ctx.out(formatTable(["NAME", "VIP", "PORTS", "REVISION"], [[service.name, service.vip, ports(service.spec.ports), service.revision]]));
  ctx.out("\nMembers:\n");
  ctx.out(
    service.members.length === 0
      ? "  (none)\n"
      : formatTable(
          ["ADDRESS", "PORT", "SOURCE", "WEIGHT", "STATE", "HEALTH", "HOST", "CONTAINER", "ATTACHMENT"],
          service.members.map((m) => [m.address, m.port, m.source, m.weight, m.state, m.health, m.hostName, m.containerId, m.attachmentId]),
        ),
  );
  ctx.out("\nHosts:\n");
  ctx.out(
    service.hosts.length === 0
      ? "  (none)\n"
      : formatTable(["HOST", "APPLIED", "GENERATION", "AT", "ERROR"], service.hosts.map((h) => [h.hostName, h.applied ? "yes" : "no", h.appliedGeneration, age(h.appliedAt), h.error])),
  );
  return EXIT.ok;
}

async function changeOne(ctx: Ctx, name: string, member: string, change: MemberChange, comment: string): Promise<number> {
  const ref = parseMemberRef(member);
  const client = await ctx.client();
  const service = await client.services.get.query({ id: (await serviceByName(client, name)).id });
  const { spec, description } = changeMember(service.spec, service.members, ref, change);
  const updated = await client.services.update.mutate({ id: service.id, spec, expectedRevision: service.revision, comment });
  if (ctx.format === "json") ctx.out(formatJson(updated));
  else ctx.out(`${name}: ${description} (revision ${(updated as { revision?: number }).revision ?? service.revision + 1})\n`);
  return EXIT.ok;
}

export async function servicesSetWeight(ctx: Ctx, name: string, member: string, weightText: string): Promise<number> {
  const weight = Number(weightText);
  if (!/^\d+$/.test(weightText) || weight > 1000) throw new CliError(EXIT.usage, `weight ${JSON.stringify(weightText)}: a whole number from 0 to 1000`);
  return changeOne(ctx, name, member, { weight }, `switchyard services set-weight ${name} ${member} ${weight}`);
}

export async function servicesDrain(ctx: Ctx, name: string, member: string, opts: { undo?: boolean }): Promise<number> {
  const state = opts.undo ? "active" : "draining";
  return changeOne(ctx, name, member, { state }, `switchyard services drain ${name} ${member}${opts.undo ? " --undo" : ""}`);
}
