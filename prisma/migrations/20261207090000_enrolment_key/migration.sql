-- AlterTable
ALTER TABLE "JoinToken" ADD COLUMN     "enrolmentKeyHash" TEXT;

