-- The last health verdict of each checked member (issue 12), reported by the agent of its host.
-- CreateTable
CREATE TABLE "MemberHealth" (
    "serviceId" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "port" INTEGER NOT NULL,
    "hostId" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'unknown',
    "lastLatencyMs" INTEGER,
    "lastMessage" TEXT NOT NULL DEFAULT '',
    "checkedAt" TIMESTAMP(3),
    "since" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "MemberHealth_pkey" PRIMARY KEY ("serviceId","address","port")
);

-- AddForeignKey
ALTER TABLE "MemberHealth" ADD CONSTRAINT "MemberHealth_serviceId_fkey" FOREIGN KEY ("serviceId") REFERENCES "Service"("id") ON DELETE CASCADE ON UPDATE CASCADE;

