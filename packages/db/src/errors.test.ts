import { describe, expect, it } from "vitest";
import { Prisma } from "./generated/prisma/client";
import { isBusyError, isUnavailableError, mapPrismaError } from "./errors";

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

describe("isUnavailableError (issue 15 §5)", () => {
  it("recognises a database that went away or does not take connections yet, however it is wrapped", () => {
    const terminated = new Error("Connection terminated unexpectedly");
    expect(isUnavailableError(terminated)).toBe(true);
    expect(isUnavailableError(new Error("query failed", { cause: terminated }))).toBe(true);
    expect(isUnavailableError(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5999"), { code: "ECONNREFUSED" }))).toBe(true);
    expect(isUnavailableError(known("P1001"))).toBe(true);
    expect(isUnavailableError(known("P1017"))).toBe(true);
    // Admin shutdown and "starting up" as the adapter reports them (meta.driverAdapterError.cause).
    expect(isUnavailableError(known("P2010", { driverAdapterError: { cause: { kind: "postgres", code: "57P01", message: "terminating connection due to administrator command" } } }))).toBe(true);
    expect(isUnavailableError(known("P2010", { driverAdapterError: { cause: { kind: "postgres", code: "57P03", message: "the database system is starting up" } } }))).toBe(true);
    expect(isUnavailableError(known("P2010", { driverAdapterError: { cause: { kind: "ConnectionClosed" } } }))).toBe(true);
  });

  it("is not fooled by other errors", () => {
    expect(isUnavailableError(new Error("boom"))).toBe(false);
    expect(isUnavailableError(known("P2002", { target: ["name"] }))).toBe(false);
    expect(isUnavailableError(known("P2010", { driverAdapterError: { cause: { kind: "postgres", code: "23505", message: "duplicate key" } } }))).toBe(false);
    expect(isBusyError(known("P2024"))).toBe(true);
    expect(isBusyError(new Error("Connection terminated unexpectedly"))).toBe(false);
  });
});
