import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseDbUrl } from "./url";

describe("parseDbUrl", () => {
  it("accepts postgres URLs as they are", () => {
    expect(parseDbUrl("postgresql://u:p@h:5432/db")).toEqual({ kind: "postgres", url: "postgresql://u:p@h:5432/db" });
    expect(parseDbUrl("postgres://h/db").kind).toBe("postgres");
  });
  it("reads file: as a PGlite directory", () => {
    expect(parseDbUrl("file:./.switchyard/db")).toEqual({ kind: "pglite", dir: path.resolve(".switchyard/db") });
    expect(parseDbUrl("file:/var/lib/sy")).toEqual({ kind: "pglite", dir: "/var/lib/sy" });
    expect(parseDbUrl("file:///var/lib/sy")).toEqual({ kind: "pglite", dir: "/var/lib/sy" });
  });
  it("reads file::memory: as in-memory PGlite", () => {
    expect(parseDbUrl("file::memory:")).toEqual({ kind: "pglite-memory", name: null });
    expect(parseDbUrl("file::memory:abc")).toEqual({ kind: "pglite-memory", name: "abc" });
  });
  it("rejects other schemes with the accepted forms", () => {
    expect(() => parseDbUrl("mysql://h/db")).toThrow(/postgresql:\/\/.*file:/);
  });
});
