-- Services and endpoint pools (issue 12): labels on hosts and attachments, the service CIDRs,
-- services with their spec in revisions, the numbered changes hosts converge to, and what each host applied.
-- AlterTable
ALTER TABLE "Host" ADD COLUMN     "labels" JSONB NOT NULL DEFAULT '{}';

-- AlterTable
ALTER TABLE "Attachment" ADD COLUMN     "labels" JSONB NOT NULL DEFAULT '{}';

-- CreateTable
CREATE TABLE "ServiceCidr" (
    "cidr" TEXT NOT NULL,
    "family" INTEGER NOT NULL,
    "createdByName" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ServiceCidr_pkey" PRIMARY KEY ("cidr")
);

-- CreateTable
CREATE TABLE "Service" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "vip" INET NOT NULL,
    "family" INTEGER NOT NULL,
    "latestRevision" INTEGER NOT NULL DEFAULT 1,
    "createdByName" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Service_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ServiceRevision" (
    "serviceId" TEXT NOT NULL,
    "number" INTEGER NOT NULL,
    "spec" JSONB NOT NULL,
    "comment" TEXT NOT NULL DEFAULT '',
    "authorName" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ServiceRevision_pkey" PRIMARY KEY ("serviceId","number")
);

-- CreateTable
CREATE TABLE "ServiceChange" (
    "generation" BIGSERIAL NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "summary" TEXT NOT NULL DEFAULT '',
    "serviceId" TEXT,
    "actorName" TEXT NOT NULL DEFAULT '',

    CONSTRAINT "ServiceChange_pkey" PRIMARY KEY ("generation")
);

-- CreateTable
CREATE TABLE "HostServiceState" (
    "hostId" TEXT NOT NULL,
    "family" INTEGER NOT NULL,
    "appliedGeneration" BIGINT,
    "appliedAt" TIMESTAMP(3),
    "applyMs" INTEGER,
    "error" TEXT NOT NULL DEFAULT '',
    "failedGeneration" BIGINT,
    "reportedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "HostServiceState_pkey" PRIMARY KEY ("hostId","family")
);

-- CreateIndex
CREATE UNIQUE INDEX "Service_name_key" ON "Service"("name");

-- CreateIndex
CREATE UNIQUE INDEX "Service_vip_key" ON "Service"("vip");

-- CreateIndex
CREATE INDEX "ServiceChange_serviceId_generation_idx" ON "ServiceChange"("serviceId", "generation");

-- AddForeignKey
ALTER TABLE "ServiceRevision" ADD CONSTRAINT "ServiceRevision_serviceId_fkey" FOREIGN KEY ("serviceId") REFERENCES "Service"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "HostServiceState" ADD CONSTRAINT "HostServiceState_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

