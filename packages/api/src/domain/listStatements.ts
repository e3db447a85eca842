import { type Db, Prisma } from "@switchyard/db";
import { AttachmentListQuery, AuditListInput, HostListQuery, NetworkListQuery } from "../listSchemas";
import { attachmentPageSql, hostIdsMatching } from "./attachmentList";
import { auditPageSql } from "./audit";
import { hostPageSql } from "./hostList";
import { networkPageSql } from "./networkList";

/**
 * The SQL statement each list sends for an input (defaults applied as the procedure applies
 * them): for EXPLAIN in tests and in bench/console-lists.ts, so what is planned is what runs.
 */
export const listStatements = {
  networks: (input: Partial<NetworkListQuery> = {}): Prisma.Sql => networkPageSql(NetworkListQuery.parse(input)),
  hosts: (input: Partial<HostListQuery> = {}): Prisma.Sql => hostPageSql(HostListQuery.parse(input)),
  attachments: (input: Partial<AttachmentListQuery> = {}, matchingHostIds: string[] = []): Prisma.Sql => attachmentPageSql(AttachmentListQuery.parse(input), matchingHostIds),
  audit: (input: Partial<AuditListInput> = {}): Prisma.Sql => auditPageSql(AuditListInput.parse(input)),
};

export type ListName = keyof typeof listStatements;

/** EXPLAIN (ANALYZE) of the statement a list sends for an input: the plan as text. */
export async function explainList(db: Db, list: ListName, input: Record<string, unknown> = {}, analyze = true): Promise<string> {
  const hostIds = list === "attachments" ? await hostIdsMatching(db, typeof input.q === "string" ? input.q : undefined) : [];
  const statement = (listStatements[list] as (i: Record<string, unknown>, h: string[]) => Prisma.Sql)(input, hostIds);
  const options = analyze ? Prisma.sql`(ANALYZE, COSTS OFF)` : Prisma.sql`(COSTS OFF)`;
  const plan = await db.$queryRaw<{ "QUERY PLAN": string }[]>(Prisma.sql`EXPLAIN ${options} ${statement}`);
  return plan.map((r) => r["QUERY PLAN"]).join("\n");
}
