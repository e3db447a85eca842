-- AlterTable
ALTER TABLE "Host" ADD COLUMN     "confDirError" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "observedRuntimes" JSONB NOT NULL DEFAULT '[]';

-- CreateTable
CREATE TABLE "NetworkPlacement" (
    "networkId" TEXT NOT NULL,
    "mode" TEXT NOT NULL,
    "selector" JSONB NOT NULL DEFAULT '{}',
    "hostIds" JSONB NOT NULL DEFAULT '[]',
    "drift" TEXT NOT NULL DEFAULT 'restore',
    "revision" INTEGER NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedByName" TEXT NOT NULL DEFAULT '',
    "rolloutState" TEXT NOT NULL DEFAULT '',
    "rolloutRevision" INTEGER,
    "rolloutOrder" JSONB NOT NULL DEFAULT '[]',
    "rolloutReached" INTEGER NOT NULL DEFAULT 0,
    "rolloutError" TEXT NOT NULL DEFAULT '',
    "rolloutByName" TEXT NOT NULL DEFAULT '',
    "rolloutStartedAt" TIMESTAMP(3),

    CONSTRAINT "NetworkPlacement_pkey" PRIMARY KEY ("networkId")
);

-- CreateTable
CREATE TABLE "HostNetworkFile" (
    "hostId" TEXT NOT NULL,
    "networkName" TEXT NOT NULL,
    "file" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "revision" INTEGER,
    "action" TEXT NOT NULL DEFAULT '',
    "change" TEXT NOT NULL DEFAULT '',
    "diff" TEXT NOT NULL DEFAULT '',
    "conflictWith" JSONB NOT NULL DEFAULT '[]',
    "error" TEXT NOT NULL DEFAULT '',
    "reportedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "HostNetworkFile_pkey" PRIMARY KEY ("hostId","networkName")
);

-- CreateTable
CREATE TABLE "ObservedAttachment" (
    "hostId" TEXT NOT NULL,
    "networkName" TEXT NOT NULL,
    "containerId" TEXT NOT NULL,
    "ifName" TEXT NOT NULL,
    "runtime" TEXT NOT NULL,
    "name" TEXT NOT NULL DEFAULT '',
    "image" TEXT NOT NULL DEFAULT '',
    "labels" JSONB NOT NULL DEFAULT '{}',
    "labelsLeftOut" INTEGER NOT NULL DEFAULT 0,
    "state" TEXT NOT NULL DEFAULT '',
    "netns" TEXT NOT NULL DEFAULT '',
    "addresses" JSONB NOT NULL DEFAULT '[]',
    "observedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ObservedAttachment_pkey" PRIMARY KEY ("hostId","networkName","containerId","ifName")
);

-- CreateIndex
CREATE INDEX "ObservedAttachment_networkName_idx" ON "ObservedAttachment"("networkName");

-- AddForeignKey
ALTER TABLE "NetworkPlacement" ADD CONSTRAINT "NetworkPlacement_networkId_fkey" FOREIGN KEY ("networkId") REFERENCES "Network"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "HostNetworkFile" ADD CONSTRAINT "HostNetworkFile_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ObservedAttachment" ADD CONSTRAINT "ObservedAttachment_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;
