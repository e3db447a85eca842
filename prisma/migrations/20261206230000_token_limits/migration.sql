-- A general API token may be limited to some networks (and, with serviceIds, some services).
ALTER TABLE "ApiToken" ADD COLUMN     "networkIds" TEXT[] DEFAULT ARRAY[]::TEXT[];
