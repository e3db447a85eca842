-- The claim also returns the operation's own "toRevision": a detach that names a revision is the way
-- out of a stuck attachment (attachments.detachWithCurrentRevision) and runs DEL with that
-- revision's config only. A function's result columns cannot change in place: dropped and created
-- again, otherwise as in 20261206023100_agent_work_functions (its notes on the U& body hold here).

DROP FUNCTION "switchyard_claim_operations"(text, text, text, int, int);

CREATE FUNCTION "switchyard_claim_operations"(p_host text, p_at text, p_until text, p_max int, p_slots int)
RETURNS TABLE ("row" text, "operationId" text, "attempt" int, "kind" text, "generation" int, "attachmentId" text,
               "containerId" text, "ifName" text, "targetKind" text, "target" text, "capabilityArgs" jsonb,
               "networkName" text, "networkRevision" int, "conflist" jsonb, "previousRevision" int, "previousConflist" jsonb, "toRevision" int)
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
    SELECT id, status, attempt FROM head
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
    RETURNING o.id, o.seq, o.kind, o.attempt, o.generation, o."attachmentId", o."toRevision"
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
    SELECT ''expired'' AS row, id, seq, kind, attempt, generation, "attachmentId", "toRevision" FROM expired
  )
  SELECT p.row, p.id AS "operationId", p.attempt, p.kind::text AS kind, p.generation, a.id AS "attachmentId",
         a."containerId", a."ifName", a."targetKind"::text AS "targetKind", a.target, a."capabilityArgs",
         a."networkName", COALESCE(p."toRevision", a."networkRevision") AS "networkRevision", r.conflist,
         pr.number AS "previousRevision", pr.conflist AS "previousConflist", p."toRevision"
  FROM picked p
  JOIN "Attachment" a ON a.id = p."attachmentId"
  LEFT JOIN "NetworkRevision" r ON r."networkId" = a."networkId" AND r.number = COALESCE(p."toRevision", a."networkRevision")
  -- reapply: the revision the attachment runs until it succeeds, DELed first.
  LEFT JOIN "NetworkRevision" pr ON p.kind = ''reapply'' AND pr."networkId" = a."networkId" AND pr.number = a."networkRevision"
  ORDER BY p.seq\003B
END
';
