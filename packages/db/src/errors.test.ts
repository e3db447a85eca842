import { describe, expect, it } from "vitest";
import { Prisma } from "./generated/prisma/client";
import { mapPrismaError } from "./errors";

const known = (code: string, meta?: Record<string, unknown>) =>
  new Prisma.PrismaClientKnownRequestError("x", { code, clientVersion: "test", meta });

describe("mapPrismaError", () => {
  it("maps P2002 to CONFLICT with fields", () => {
    expect(mapPrismaError(known("P2002", { target: ["username"] }))).toEqual({ code: "CONFLICT", fields: ["username"] });
    expect(
      mapPrismaError(known("P2002", { driverAdapterError: { cause: { constraint: { fields: ['"name"'] } } } })),
    ).toEqual({ code: "CONFLICT", fields: ["name"] });
    expect(
      mapPrismaError(
        known("P2002", { modelName: "NetworkRevision", driverAdapterError: { cause: { constraint: { index: "NetworkRevision_networkId_number_key" } } } }),
      ),
    ).toEqual({ code: "CONFLICT", fields: ["networkId", "number"] });
  });
  it("maps P2025 to NOT_FOUND", () => {
    expect(mapPrismaError(known("P2025"))).toEqual({ code: "NOT_FOUND" });
  });
  it("returns null for anything else", () => {
    expect(mapPrismaError(known("P2003"))).toBeNull();
    expect(mapPrismaError(new Error("boom"))).toBeNull();
  });
});
