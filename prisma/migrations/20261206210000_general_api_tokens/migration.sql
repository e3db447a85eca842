-- AlterEnum
ALTER TYPE "ApiTokenScope" ADD VALUE 'general';

-- AlterTable
ALTER TABLE "ApiToken" ADD COLUMN     "readOnly" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "role" "Role";

