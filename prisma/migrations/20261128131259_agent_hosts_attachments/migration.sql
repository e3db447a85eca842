-- CreateEnum
CREATE TYPE "AttachmentTarget" AS ENUM ('netns', 'pid', 'sandbox');

-- CreateEnum
CREATE TYPE "AttachmentState" AS ENUM ('pending', 'applying', 'ready', 'failed', 'detaching', 'detached');

-- CreateEnum
CREATE TYPE "OperationKind" AS ENUM ('attach', 'check', 'detach');

-- CreateEnum
CREATE TYPE "OperationStatus" AS ENUM ('queued', 'running', 'succeeded', 'failed', 'cancelled');

-- CreateTable
CREATE TABLE "JoinToken" (
    "id" TEXT NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "note" TEXT NOT NULL DEFAULT '',
    "createdById" TEXT,
    "createdByName" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "usedAt" TIMESTAMP(3),
    "hostId" TEXT,

    CONSTRAINT "JoinToken_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Host" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "credentialHash" TEXT NOT NULL,
    "credentialExpiresAt" TIMESTAMP(3) NOT NULL,
    "pendingCredentialHash" TEXT,
    "enrolledAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMP(3),
    "revokedByName" TEXT NOT NULL DEFAULT '',
    "lastSeenAt" TIMESTAMP(3),
    "agentVersion" TEXT NOT NULL DEFAULT '',
    "inventory" JSONB,
    "inventoryAt" TIMESTAMP(3),

    CONSTRAINT "Host_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Attachment" (
    "id" TEXT NOT NULL,
    "hostId" TEXT NOT NULL,
    "networkId" TEXT NOT NULL,
    "networkName" TEXT NOT NULL,
    "networkRevision" INTEGER NOT NULL,
    "containerId" TEXT NOT NULL,
    "ifName" TEXT NOT NULL,
    "targetKind" "AttachmentTarget" NOT NULL,
    "target" TEXT NOT NULL,
    "capabilityArgs" JSONB NOT NULL DEFAULT '{}',
    "present" BOOLEAN NOT NULL DEFAULT true,
    "generation" INTEGER NOT NULL DEFAULT 1,
    "state" "AttachmentState" NOT NULL DEFAULT 'pending',
    "result" JSONB,
    "lastError" TEXT NOT NULL DEFAULT '',
    "createdById" TEXT,
    "createdByName" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Attachment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Operation" (
    "id" TEXT NOT NULL,
    "seq" SERIAL NOT NULL,
    "hostId" TEXT NOT NULL,
    "attachmentId" TEXT NOT NULL,
    "kind" "OperationKind" NOT NULL,
    "generation" INTEGER NOT NULL,
    "status" "OperationStatus" NOT NULL DEFAULT 'queued',
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "maxAttempts" INTEGER NOT NULL DEFAULT 5,
    "notBefore" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "claimedUntil" TIMESTAMP(3),
    "result" JSONB,
    "error" TEXT NOT NULL DEFAULT '',
    "requestedById" TEXT,
    "requestedByName" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "Operation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "OperationLog" (
    "id" SERIAL NOT NULL,
    "operationId" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "stream" TEXT NOT NULL,
    "line" TEXT NOT NULL,

    CONSTRAINT "OperationLog_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "JoinToken_tokenHash_key" ON "JoinToken"("tokenHash");

-- CreateIndex
CREATE INDEX "JoinToken_createdAt_idx" ON "JoinToken"("createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "Host_name_key" ON "Host"("name");

-- CreateIndex
CREATE UNIQUE INDEX "Host_credentialHash_key" ON "Host"("credentialHash");

-- CreateIndex
CREATE UNIQUE INDEX "Host_pendingCredentialHash_key" ON "Host"("pendingCredentialHash");

-- CreateIndex
CREATE INDEX "Attachment_networkId_idx" ON "Attachment"("networkId");

-- CreateIndex
CREATE UNIQUE INDEX "Attachment_hostId_networkName_containerId_ifName_key" ON "Attachment"("hostId", "networkName", "containerId", "ifName");

-- CreateIndex
CREATE UNIQUE INDEX "Operation_seq_key" ON "Operation"("seq");

-- CreateIndex
CREATE INDEX "Operation_hostId_status_notBefore_idx" ON "Operation"("hostId", "status", "notBefore");

-- CreateIndex
CREATE INDEX "Operation_attachmentId_seq_idx" ON "Operation"("attachmentId", "seq");

-- CreateIndex
CREATE INDEX "OperationLog_operationId_id_idx" ON "OperationLog"("operationId", "id");

-- AddForeignKey
ALTER TABLE "Attachment" ADD CONSTRAINT "Attachment_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Attachment" ADD CONSTRAINT "Attachment_networkId_fkey" FOREIGN KEY ("networkId") REFERENCES "Network"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Operation" ADD CONSTRAINT "Operation_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Operation" ADD CONSTRAINT "Operation_attachmentId_fkey" FOREIGN KEY ("attachmentId") REFERENCES "Attachment"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "OperationLog" ADD CONSTRAINT "OperationLog_operationId_fkey" FOREIGN KEY ("operationId") REFERENCES "Operation"("id") ON DELETE CASCADE ON UPDATE CASCADE;
