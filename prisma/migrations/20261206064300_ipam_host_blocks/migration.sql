-- Per-host blocks of a network's host-local range (issue 11 item 5): the policy per network and
-- the blocks given to hosts. The unique first address keeps two hosts' blocks apart even if the lock were skipped.
-- CreateTable
CREATE TABLE "IpamBlockPolicy" (
    "networkId" TEXT NOT NULL,
    "blockSize" INTEGER NOT NULL,
    "updatedById" TEXT,
    "updatedByName" TEXT NOT NULL DEFAULT '',
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "IpamBlockPolicy_pkey" PRIMARY KEY ("networkId")
);

-- CreateTable
CREATE TABLE "IpamBlock" (
    "id" BIGSERIAL NOT NULL,
    "networkId" TEXT NOT NULL,
    "hostId" TEXT NOT NULL,
    "firstAddress" INET NOT NULL,
    "lastAddress" INET NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "IpamBlock_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "IpamBlock_networkId_hostId_idx" ON "IpamBlock"("networkId", "hostId");

-- CreateIndex
CREATE INDEX "IpamBlock_hostId_idx" ON "IpamBlock"("hostId");

-- CreateIndex
CREATE UNIQUE INDEX "IpamBlock_networkId_firstAddress_key" ON "IpamBlock"("networkId", "firstAddress");

-- AddForeignKey
ALTER TABLE "IpamBlockPolicy" ADD CONSTRAINT "IpamBlockPolicy_networkId_fkey" FOREIGN KEY ("networkId") REFERENCES "Network"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "IpamBlock" ADD CONSTRAINT "IpamBlock_networkId_fkey" FOREIGN KEY ("networkId") REFERENCES "Network"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "IpamBlock" ADD CONSTRAINT "IpamBlock_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

