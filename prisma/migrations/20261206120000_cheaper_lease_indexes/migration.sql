-- Cheaper inserts for a host's snapshot (50,000 new leases and as many events):
-- LeaseEvent keeps one index for an address's events, (address, at), which serves "who held A at T"
-- and one address's history in its network (the network a filter). (networkName, address, at)
-- served nothing more.
DROP INDEX "LeaseEvent_networkName_address_at_idx";

-- The purge finds old events through a BRIN summary: events arrive in time order, and a BRIN
-- insert costs next to nothing where a B-tree took an entry per event.
DROP INDEX "LeaseEvent_at_idx";
CREATE INDEX "LeaseEvent_at_idx" ON "LeaseEvent" USING BRIN ("at");

-- Lease.attachmentId is looked up by equality only (the triggers on Attachment). A hash index
-- holds no NULLs, so the leases of other runtimes, which no console attachment holds, cost it nothing.
DROP INDEX "Lease_attachmentId_idx";
CREATE INDEX "Lease_attachmentId_idx" ON "Lease" USING HASH ("attachmentId");
