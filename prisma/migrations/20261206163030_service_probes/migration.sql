-- Probes of services (issue 12): connections to a VIP from one host, sent by its agent, and their spread over the members.
-- CreateEnum
CREATE TYPE "ServiceProbeStatus" AS ENUM ('pending', 'running', 'done', 'failed');

-- CreateTable
CREATE TABLE "ServiceProbe" (
    "id" TEXT NOT NULL,
    "serviceId" TEXT NOT NULL,
    "hostId" TEXT NOT NULL,
    "vip" TEXT NOT NULL,
    "protocol" TEXT NOT NULL,
    "port" INTEGER NOT NULL,
    "sourceKind" TEXT NOT NULL,
    "attachmentId" TEXT,
    "sourceName" TEXT NOT NULL DEFAULT '',
    "count" INTEGER NOT NULL,
    "status" "ServiceProbeStatus" NOT NULL DEFAULT 'pending',
    "requestedById" TEXT,
    "requestedByName" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deadline" TIMESTAMP(3) NOT NULL,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),
    "result" JSONB,
    "error" TEXT NOT NULL DEFAULT '',

    CONSTRAINT "ServiceProbe_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "ServiceProbe_serviceId_createdAt_idx" ON "ServiceProbe"("serviceId", "createdAt");

-- CreateIndex
CREATE INDEX "ServiceProbe_hostId_status_idx" ON "ServiceProbe"("hostId", "status");

-- AddForeignKey
ALTER TABLE "ServiceProbe" ADD CONSTRAINT "ServiceProbe_serviceId_fkey" FOREIGN KEY ("serviceId") REFERENCES "Service"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ServiceProbe" ADD CONSTRAINT "ServiceProbe_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;
