-- CreateTable
CREATE TABLE "HostProxyHealth" (
    "hostId" TEXT NOT NULL,
    "ejections" JSONB NOT NULL DEFAULT '[]',
    "reportedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "HostProxyHealth_pkey" PRIMARY KEY ("hostId")
);

-- AddForeignKey
ALTER TABLE "HostProxyHealth" ADD CONSTRAINT "HostProxyHealth_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

