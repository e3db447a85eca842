-- Metrics (issue 13 §5).
-- The latest metrics snapshot each agent pushed, so that any console replica serves every host's.
-- CreateTable
CREATE TABLE "HostMetricsSnapshot" (
    "hostId" TEXT NOT NULL,
    "takenAt" TIMESTAMP(3) NOT NULL,
    "receivedAt" TIMESTAMP(3) NOT NULL,
    "samples" JSONB NOT NULL,

    CONSTRAINT "HostMetricsSnapshot_pkey" PRIMARY KEY ("hostId")
);

-- AddForeignKey
ALTER TABLE "HostMetricsSnapshot" ADD CONSTRAINT "HostMetricsSnapshot_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The claim and the close of 20261206023100_agent_work_functions, each with one column more for the
-- console's metrics, at no extra statement: the claim says since when each operation was due
-- ("dueAt": the push delay), the close says each operation's kind (operations by kind and outcome).
-- Otherwise unchanged. A new output column changes the return type, which CREATE OR REPLACE cannot:
-- drop, then create. Callers that read by name (agentWork.ts) are unaffected by the extra column.
DROP FUNCTION "switchyard_claim_operations"(text, text, text, int, int);
DROP FUNCTION "switchyard_finish_operations"(text, text, jsonb);

-- Claims up to p_max operations of host p_host at p_at (claims last until p_until). With p_slots (the
-- push stream) the operations the agent still holds count against it. Rows "claimed", and "expired"
-- for claims that ran out on their last attempt (the caller fails those).
CREATE FUNCTION "switchyard_claim_operations"(p_host text, p_at text, p_until text, p_max int, p_slots int)
RETURNS TABLE ("row" text, "operationId" text, "attempt" int, "kind" text, "generation" int, "attachmentId" text,
               "containerId" text, "ifName" text, "targetKind" text, "target" text, "capabilityArgs" jsonb,
               "networkName" text, "networkRevision" int, "conflist" jsonb, "previousRevision" int, "previousConflist" jsonb, "toRevision" int,
               "dueAt" timestamp(3))
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS U&'
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH head AS (
    SELECT DISTINCT ON (o."attachmentId") o.id, o.seq, o.kind, o.generation, o."attachmentId", o."toRevision", o.status, o.attempt, o."maxAttempts", o."notBefore", o."claimedUntil"
    FROM "Operation" o
    WHERE o."hostId" = p_host AND o.status IN (''queued'', ''running'')
    ORDER BY o."attachmentId", o.seq
  ),
  due AS (
    -- dueAt: since when a queued operation could be claimed (queued, or its retry back-off over).
    SELECT id, status, attempt, (CASE WHEN status = ''queued'' THEN "notBefore" END) AS "dueAt" FROM head
    WHERE (status = ''queued'' AND "notBefore" <= p_at::timestamptz AT TIME ZONE ''UTC'')
       OR (status = ''running'' AND "claimedUntil" < p_at::timestamptz AT TIME ZONE ''UTC'' AND attempt < "maxAttempts")
    ORDER BY seq
    -- With slots (the push stream), the operations the agent holds (claims running out later) use them up.
    LIMIT GREATEST(0, LEAST(p_max, COALESCE(p_slots - (
      SELECT count(*) FROM "Operation" WHERE "hostId" = p_host AND status = ''running'' AND "claimedUntil" >= p_at::timestamptz AT TIME ZONE ''UTC''
    ), p_max)))
  ),
  claimed AS (
    UPDATE "Operation" o SET
      status = ''running'',
      attempt = o.attempt + 1,
      "claimedUntil" = p_until::timestamptz AT TIME ZONE ''UTC'',
      "startedAt" = p_at::timestamptz AT TIME ZONE ''UTC''
    FROM due
    WHERE o.id = due.id AND o.status = due.status AND o.attempt = due.attempt
    RETURNING o.id, o.seq, o.kind, o.attempt, o.generation, o."attachmentId", o."toRevision", due."dueAt"
  ),
  -- The state follows ON_CLAIM in attachmentStates.ts (attachmentStates.int.test.ts checks it).
  moved AS (
    UPDATE "Attachment" a SET
      state = (CASE WHEN claimed.kind IN (''attach'', ''reapply'') THEN ''applying'' ELSE ''detaching'' END)::"AttachmentState",
      "updatedAt" = p_at::timestamptz AT TIME ZONE ''UTC''
    FROM claimed
    WHERE a.id = claimed."attachmentId" AND a.generation = claimed.generation AND claimed.kind <> ''check''
  ),
  expired AS (
    SELECT id, attempt, seq, kind, generation, "attachmentId", "toRevision" FROM head
    WHERE status = ''running'' AND "claimedUntil" < p_at::timestamptz AT TIME ZONE ''UTC'' AND attempt >= "maxAttempts"
  ),
  picked AS (
    SELECT ''claimed'' AS row, * FROM claimed
    UNION ALL
    SELECT ''expired'' AS row, id, seq, kind, attempt, generation, "attachmentId", "toRevision", NULL::timestamp(3) FROM expired
  )
  SELECT p.row, p.id AS "operationId", p.attempt, p.kind::text AS kind, p.generation, a.id AS "attachmentId",
         a."containerId", a."ifName", a."targetKind"::text AS "targetKind", a.target, a."capabilityArgs",
         a."networkName", COALESCE(p."toRevision", a."networkRevision") AS "networkRevision", r.conflist,
         pr.number AS "previousRevision", pr.conflist AS "previousConflist", p."toRevision", p."dueAt"
  FROM picked p
  JOIN "Attachment" a ON a.id = p."attachmentId"
  LEFT JOIN "NetworkRevision" r ON r."networkId" = a."networkId" AND r.number = COALESCE(p."toRevision", a."networkRevision")
  -- reapply: the revision the attachment runs until it succeeds, DELed first.
  LEFT JOIN "NetworkRevision" pr ON p.kind = ''reapply'' AND pr."networkId" = a."networkId" AND pr.number = a."networkRevision"
  ORDER BY p.seq\003B
END
';

-- Closes attempts of host p_host at p_at with their outcomes (p_input: a JSON array of
-- n, id, attempt, outcome, retryable, error, retryAt, result, lines), each fenced by (operation, attempt).
CREATE FUNCTION "switchyard_finish_operations"(p_host text, p_at text, p_input jsonb)
RETURNS TABLE ("n" int, "id" text, "attachmentId" text, "attempt" int, "status" text, "more" boolean, "kind" text)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS U&'
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH input AS (
    SELECT * FROM jsonb_to_recordset(p_input)
      AS i(n int, id text, attempt int, outcome text, retryable boolean, error text, "retryAt" text, result jsonb, lines jsonb)
  ),
  closed AS (
    UPDATE "Operation" o SET
      status = (CASE WHEN i.outcome = ''succeeded'' THEN ''succeeded''
                     WHEN i.retryable AND o.attempt < o."maxAttempts" THEN ''queued''
                     ELSE ''failed'' END)::"OperationStatus",
      error = i.error,
      "claimedUntil" = NULL,
      result = COALESCE(i.result, o.result),
      "notBefore" = CASE WHEN i.retryable AND o.attempt < o."maxAttempts"
                         THEN i."retryAt"::timestamptz AT TIME ZONE ''UTC''
                         ELSE o."notBefore" END,
      "finishedAt" = CASE WHEN i.retryable AND o.attempt < o."maxAttempts" THEN NULL
                          ELSE p_at::timestamptz AT TIME ZONE ''UTC'' END
    FROM input i
    WHERE o.id = i.id AND o."hostId" = p_host AND o.status = ''running'' AND o.attempt = i.attempt
    RETURNING i.n, o.id, o."attachmentId", o.attempt, o.generation, o.kind, o."toRevision", o.status, i.error, i.result, i.lines
  ),
  logged AS (
    INSERT INTO "OperationLog" ("operationId", attempt, at, stream, line)
    SELECT closed.id, closed.attempt, l.at::timestamptz AT TIME ZONE ''UTC'', l.stream, l.line
    FROM closed, jsonb_to_recordset(closed.lines) AS l(at text, stream text, line text)
  ),
  -- State, result and error follow an operation that serves the latest desired generation. A
  -- reapply that succeeded moves the revision whatever came after it (a detach queued behind it
  -- DELs what the host now runs). The state follows ON_OUTCOME in attachmentStates.ts
  -- (attachmentStates.int.test.ts checks it).
  moved AS (
    UPDATE "Attachment" a SET
      state = CASE WHEN a.generation <> closed.generation THEN a.state
                   WHEN closed.status = ''succeeded'' THEN (CASE WHEN closed.kind = ''detach'' THEN ''detached'' ELSE ''ready'' END)::"AttachmentState"
                   WHEN closed.status = ''failed'' THEN ''failed''::"AttachmentState"
                   ELSE a.state END,
      result = CASE WHEN a.generation = closed.generation AND closed.status = ''succeeded'' AND closed.kind IN (''attach'', ''reapply'') THEN COALESCE(closed.result, a.result) ELSE a.result END,
      "lastError" = CASE WHEN a.generation <> closed.generation THEN a."lastError"
                         WHEN closed.status = ''succeeded'' THEN ''''
                         WHEN closed.status = ''failed'' THEN closed.error
                         ELSE ''attempt '' || closed.attempt || '' failed, retrying: '' || closed.error END,
      "networkRevision" = CASE WHEN closed.status = ''succeeded'' AND closed.kind = ''reapply'' THEN closed."toRevision" ELSE a."networkRevision" END,
      "updatedAt" = p_at::timestamptz AT TIME ZONE ''UTC''
    FROM closed
    WHERE a.id = closed."attachmentId" AND (a.generation = closed.generation OR (closed.kind = ''reapply'' AND closed.status = ''succeeded''))
  )
  SELECT closed.n, closed.id, closed."attachmentId", closed.attempt, closed.status::text AS status,
         EXISTS (SELECT 1 FROM "Operation" q WHERE q."attachmentId" = closed."attachmentId" AND q.status = ''queued'') AS more,
         closed.kind::text AS kind
  FROM closed\003B
END
';
