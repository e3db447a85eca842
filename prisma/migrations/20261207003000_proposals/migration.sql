-- Review before apply (issue 13 §4): proposals, their reviews, and review policies per network or service.
-- CreateEnum
CREATE TYPE "ProposalKind" AS ENUM ('network', 'service');

-- CreateEnum
CREATE TYPE "ProposalStatus" AS ENUM ('open', 'applied', 'withdrawn');

-- CreateTable
CREATE TABLE "Proposal" (
    "id" TEXT NOT NULL,
    "kind" "ProposalKind" NOT NULL,
    "targetId" TEXT NOT NULL,
    "targetName" TEXT NOT NULL,
    "baseRevision" INTEGER NOT NULL,
    "change" JSONB NOT NULL,
    "title" TEXT NOT NULL,
    "status" "ProposalStatus" NOT NULL DEFAULT 'open',
    "authorId" TEXT,
    "authorName" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "appliedAt" TIMESTAMP(3),
    "appliedByName" TEXT NOT NULL DEFAULT '',
    "appliedRevision" INTEGER,
    "operationIds" TEXT[] DEFAULT ARRAY[]::TEXT[],

    CONSTRAINT "Proposal_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ProposalReview" (
    "id" TEXT NOT NULL,
    "proposalId" TEXT NOT NULL,
    "userId" TEXT,
    "userName" TEXT NOT NULL,
    "approve" BOOLEAN NOT NULL,
    "body" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ProposalReview_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ReviewPolicy" (
    "id" TEXT NOT NULL,
    "kind" "ProposalKind" NOT NULL,
    "targetId" TEXT NOT NULL,
    "approvals" INTEGER NOT NULL,
    "whenInUse" BOOLEAN NOT NULL DEFAULT false,
    "authorMayApply" BOOLEAN NOT NULL DEFAULT true,
    "updatedByName" TEXT NOT NULL DEFAULT '',
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ReviewPolicy_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Proposal_status_createdAt_idx" ON "Proposal"("status", "createdAt");

-- CreateIndex
CREATE INDEX "Proposal_kind_targetId_idx" ON "Proposal"("kind", "targetId");

-- CreateIndex
CREATE INDEX "ProposalReview_proposalId_createdAt_idx" ON "ProposalReview"("proposalId", "createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "ReviewPolicy_kind_targetId_key" ON "ReviewPolicy"("kind", "targetId");

-- AddForeignKey
ALTER TABLE "ProposalReview" ADD CONSTRAINT "ProposalReview_proposalId_fkey" FOREIGN KEY ("proposalId") REFERENCES "Proposal"("id") ON DELETE CASCADE ON UPDATE CASCADE;

