-- Pools follow the containers (issue 12): a labelled attachment that becomes ready, stops being
-- ready (failed, detached, deleted) or gets another result is a change every host must converge
-- to, whichever writer made it (the agents' completions, the purge, recovery). Labels edited
-- through the API are recorded by the API itself, with the actor.
-- Each such change also rings the console's event bus (the channel and envelope of
-- packages/api/src/eventWire.ts, from "database": no replica takes it for its own echo), so agents
-- hear of it whichever replica or path wrote it. The payload carries no number, so one
-- transaction's rows ring once (PostgreSQL folds identical notifications of a transaction).
-- The bodies spell their semicolons as \003B in U& strings: the stock Prisma CLI on PostgreSQL
-- splits a script at every semicolon, dollar quotes included.

CREATE FUNCTION "switchyard_attachment_service_change"() RETURNS trigger
LANGUAGE plpgsql
AS U&'
BEGIN
  IF TG_OP = ''DELETE'' THEN
    INSERT INTO "ServiceChange" (summary) VALUES (''attachment '' || OLD."containerId" || ''/'' || OLD."ifName" || '' on '' || OLD."networkName" || '' deleted'')\003B
  ELSE
    INSERT INTO "ServiceChange" (summary) VALUES (''attachment '' || NEW."containerId" || ''/'' || NEW."ifName" || '' on '' || NEW."networkName" || '' '' || NEW.state::text)\003B
  END IF\003B
  PERFORM pg_notify(''switchyard_events'', ''{"v":1,"from":"database","events":[["services",{"kind":"changed"}]]}'')\003B
  RETURN NULL\003B
END';

CREATE TRIGGER "Attachment_service_change_update" AFTER UPDATE ON "Attachment"
FOR EACH ROW
WHEN ((OLD.labels <> '{}'::jsonb OR NEW.labels <> '{}'::jsonb) AND OLD.labels = NEW.labels
  AND (((OLD.state = 'ready' AND OLD.present) IS DISTINCT FROM (NEW.state = 'ready' AND NEW.present))
    OR (NEW.state = 'ready' AND OLD.result IS DISTINCT FROM NEW.result)))
EXECUTE FUNCTION "switchyard_attachment_service_change"();

CREATE TRIGGER "Attachment_service_change_delete" AFTER DELETE ON "Attachment"
FOR EACH ROW
WHEN (OLD.labels <> '{}'::jsonb AND OLD.state = 'ready' AND OLD.present)
EXECUTE FUNCTION "switchyard_attachment_service_change"();
