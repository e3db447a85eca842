import { type Db, Prisma } from "@switchyard/db";
import { AttachmentListQuery, AuditListInput, HostListQuery, NetworkListQuery } from "../listSchemas";
import { attachmentPageSql } from "./attachmentList";
import { auditPageSql } from "./audit";
import { hostPageSql } from "./hostList";
import { networkPageSql } from "./networkList";
import { isTrigramTerm, queryList } from "./paging";

/**
 * The SQL statement each list sends for an input (defaults applied as the procedure applies
 * them): for EXPLAIN in tests and in bench/console-lists.ts, so what is planned is what runs.
 */
export const listStatements = {
  networks: (input: Partial<NetworkListQuery> = {}): Prisma.Sql => networkPageSql(NetworkListQuery.parse(input)),
  hosts: (input: Partial<HostListQuery> = {}): Prisma.Sql => hostPageSql(HostListQuery.parse(input)),
  attachments: (input: Partial<AttachmentListQuery> = {}): Prisma.Sql => attachmentPageSql(AttachmentListQuery.parse(input)),
  audit: (input: Partial<AuditListInput> = {}): Prisma.Sql => auditPageSql(AuditListInput.parse(input)),
};

export type ListName = keyof typeof listStatements;

/** EXPLAIN (ANALYZE) of the statement a list sends for an input, planned as it runs: the plan as text. */
export async function explainList(db: Db, list: ListName, input: Record<string, unknown> = {}, analyze = true): Promise<string> {
  const statement = (listStatements[list] as (i: Record<string, unknown>) => Prisma.Sql)(input);
  const options = analyze ? Prisma.sql`(ANALYZE, COSTS OFF)` : Prisma.sql`(COSTS OFF)`;
  const q = [input.q, input.actor].filter((v): v is string => typeof v === "string");
  const plan = await queryList<{ "QUERY PLAN": string }>(db, Prisma.sql`EXPLAIN ${options} ${statement}`, { trigramSearch: q.some(isTrigramTerm) });
  return plan.map((r) => r["QUERY PLAN"]).join("\n");
}
