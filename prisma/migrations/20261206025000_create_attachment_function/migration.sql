-- attachments.create's statement as a PL/pgSQL function: planned once per database connection and
-- kept (a generic plan), where sent as text it was parsed and planned at every create. It is the
-- first hop of every attach (issue 10 item 19). Caller: createAttachment in
-- packages/api/src/domain/attachments.ts, which reads the row as it read the statement's. A change
-- of the statement is a new migration with CREATE OR REPLACE FUNCTION.
-- Each function's body is a U& string, its semicolons written \003B and its quotes doubled: the
-- stock Prisma CLI on PostgreSQL (adapter-pg) splits a migration at every semicolon, dollar quotes
-- or not, and the body of a PL/pgSQL function needs them.
CREATE FUNCTION "switchyard_create_attachment"(
  p_host text, p_network text, p_container text, p_ifname text, p_ns_key text, p_wanted jsonb,
  p_target_kind text, p_target text, p_capability_args jsonb, p_user_id text, p_user_name text,
  p_at text, p_request_id text, p_source_ip text)
RETURNS TABLE ("hostName" text, "hostRevoked" boolean, "networkName" text, "latestRevision" int, "existingState" text,
               "attachment" jsonb, "operation" jsonb, "interfaceHolder" jsonb, "portHolder" jsonb)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS U&'
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH found AS (
    SELECT h.id AS "hostId", h.name AS "hostName", h."revokedAt" IS NOT NULL AS "hostRevoked",
           n.id AS "networkId", n.name AS "networkName", n."latestRevision",
           a.id AS "existingId", a.state::text AS "existingState", a.generation AS "existingGeneration"
    FROM (SELECT 1) AS one
    LEFT JOIN "Host" h ON h.id = p_host
    LEFT JOIN "Network" n ON n.id = p_network
    LEFT JOIN "Attachment" a ON a."hostId" = h.id AND a."networkName" = n.name AND a."containerId" = p_container AND a."ifName" = p_ifname
  ), interface_holder AS (
    -- Another attachment (any network) holding this interface name in this namespace.
    SELECT a.id, a."containerId", a."ifName", a."networkName", a.state::text AS state
    FROM "Attachment" a, found
    WHERE a."hostId" = p_host AND a."ifName" = p_ifname AND a.state <> ''detached''
      AND (CASE WHEN a."targetKind" = ''pid'' THEN ''pid:'' || a.target ELSE a.target END) = p_ns_key
      AND a.id IS DISTINCT FROM found."existingId"
    LIMIT 1
  ), port_holder AS (
    -- A mapping of another attachment on this host for the same port and protocol, where either
    -- host IP is a wildcard (none, 0.0.0.0 or ::) or both are the same address.
    SELECT a.id, a."containerId", a."ifName", a."networkName", a.state::text AS state, w."hostPort", w.protocol, w."hostIP"
    FROM "Attachment" a
    CROSS JOIN LATERAL jsonb_array_elements(COALESCE(a."capabilityArgs"->''portMappings'', ''[]''::jsonb)) AS m
    JOIN jsonb_to_recordset(p_wanted) AS w("hostPort" int, protocol text, "hostIP" text)
      ON (m->>''hostPort'')::int = w."hostPort" AND COALESCE(m->>''protocol'', ''tcp'') = w.protocol
     AND CASE WHEN COALESCE(m->>''hostIP'', '''') IN ('''', ''0.0.0.0'', ''::'') OR w."hostIP" IN ('''', ''0.0.0.0'', ''::'') THEN true
              ELSE (m->>''hostIP'')::inet = w."hostIP"::inet END
    WHERE a."hostId" = p_host AND a.state <> ''detached''
    LIMIT 1
  ), allowed AS (
    SELECT * FROM found
    WHERE "hostId" IS NOT NULL AND NOT "hostRevoked" AND "latestRevision" IS NOT NULL AND ("existingId" IS NULL OR "existingState" = ''detached'')
      AND NOT EXISTS (SELECT 1 FROM interface_holder) AND NOT EXISTS (SELECT 1 FROM port_holder)
  ), inserted AS (
    INSERT INTO "Attachment" ("hostId", "networkId", "networkName", "networkRevision", "containerId", "ifName", "targetKind", target, "capabilityArgs", "createdById", "createdByName", "createdAt", "updatedAt")
    SELECT "hostId", "networkId", "networkName", "latestRevision", p_container, p_ifname, p_target_kind::"AttachmentTarget", p_target,
           p_capability_args, p_user_id, p_user_name,
           p_at::timestamptz AT TIME ZONE ''UTC'', p_at::timestamptz AT TIME ZONE ''UTC''
    FROM allowed WHERE "existingId" IS NULL
    -- A concurrent create of the same attachment won: nothing is written, reported as already attached.
    ON CONFLICT ("hostId", "networkName", "containerId", "ifName") DO NOTHING
    RETURNING *
  ), reattached AS (
    UPDATE "Attachment" a SET
      "networkId" = allowed."networkId", "networkRevision" = allowed."latestRevision", "targetKind" = p_target_kind::"AttachmentTarget", target = p_target,
      "capabilityArgs" = p_capability_args, present = true, state = ''pending'', "lastError" = '''', generation = a.generation + 1,
      "createdById" = p_user_id, "createdByName" = p_user_name, "updatedAt" = p_at::timestamptz AT TIME ZONE ''UTC''
    FROM allowed
    -- Fenced: a concurrent re-attach of the same attachment moved it on first.
    WHERE a.id = allowed."existingId" AND a.state = ''detached'' AND a.generation = allowed."existingGeneration"
    RETURNING a.*
  ), saved AS (
    SELECT * FROM inserted UNION ALL SELECT * FROM reattached
  ), operation AS (
    INSERT INTO "Operation" ("hostId", "attachmentId", kind, generation, "requestedById", "requestedByName", "notBefore", "createdAt")
    SELECT "hostId", id, ''attach'', generation, p_user_id, p_user_name, p_at::timestamptz AT TIME ZONE ''UTC'', p_at::timestamptz AT TIME ZONE ''UTC''
    FROM saved
    RETURNING *
  ), audit AS (
    INSERT INTO "AuditEvent" ("at", "actorId", "actorName", action, "targetType", "targetId", "targetName", after, "requestId", "sourceIp", outcome)
    SELECT p_at::timestamptz AT TIME ZONE ''UTC'', p_user_id, p_user_name, ''attachments.create'', ''attachment'', saved.id,
           saved."containerId" || ''/'' || saved."ifName" || '' on '' || allowed."networkName",
           jsonb_build_object(''host'', allowed."hostName", ''network'', allowed."networkName", ''revision'', allowed."latestRevision", ''containerId'', saved."containerId",
                              ''ifName'', saved."ifName", ''target'', jsonb_build_object(''kind'', saved."targetKind", ''target'', saved.target), ''capabilityArgs'', saved."capabilityArgs"),
           p_request_id, p_source_ip, ''success''
    FROM saved, allowed
  )
  SELECT found."hostName", found."hostRevoked", found."networkName", found."latestRevision", found."existingState",
         (SELECT to_jsonb(saved) FROM saved) AS attachment, (SELECT to_jsonb(operation) FROM operation) AS operation,
         (SELECT to_jsonb(interface_holder) FROM interface_holder) AS "interfaceHolder", (SELECT to_jsonb(port_holder) FROM port_holder) AS "portHolder"
  FROM found\003B
END
';
