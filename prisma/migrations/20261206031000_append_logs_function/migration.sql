-- The agent's job lines (agent.log) as a PL/pgSQL function, like the claim and the close
-- (20261206023100_agent_work_functions): one statement, planned once per connection and kept. An
-- agent sends them every 250 ms while operations run. Caller: appendLogs in
-- packages/api/src/domain/agentWork.ts. A change of the statement is a new migration with
-- CREATE OR REPLACE FUNCTION.
-- Each function's body is a U& string, its semicolons written \003B and its quotes doubled: the
-- stock Prisma CLI on PostgreSQL (adapter-pg) splits a migration at every semicolon, dollar quotes
-- or not, and the body of a PL/pgSQL function needs them.

-- Stores the lines (p_lines: i, attempt, at, stream, line) of the entries (p_entries: i, operationId,
-- attempt) whose operation is host p_host's and whose attempt is its current claim. One row per entry.
CREATE FUNCTION "switchyard_append_logs"(p_host text, p_entries jsonb, p_lines jsonb)
RETURNS TABLE ("i" int, "attachmentId" text, "current" boolean)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS U&'
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH entry AS (
    SELECT e.i, o.id, o."attachmentId", (o.status = ''running'' AND o.attempt = e.attempt) AS current
    FROM jsonb_to_recordset(p_entries) AS e(i int, "operationId" text, attempt int)
    LEFT JOIN "Operation" o ON o.id = e."operationId" AND o."hostId" = p_host
  ),
  stored AS (
    INSERT INTO "OperationLog" ("operationId", attempt, at, stream, line)
    SELECT entry.id, l.attempt, l.at::timestamptz AT TIME ZONE ''UTC'', l.stream, l.line
    FROM jsonb_to_recordset(p_lines) AS l(i int, attempt int, at text, stream text, line text)
    JOIN entry ON entry.i = l.i AND entry.current
  )
  SELECT entry.i, entry."attachmentId", COALESCE(entry.current, false) AS current FROM entry ORDER BY entry.i\003B
END
';
