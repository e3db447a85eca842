import { describe, expect, it } from "vitest";
import { ApiError } from "../errors";
import { containsPattern, decodeCursor, encodeCursor, toPage } from "./paging";

describe("keyset paging helpers", () => {
  it("round-trips a cursor and refuses one it did not make, naming it", () => {
    const at = new Date("2026-12-05T10:00:00.123Z");
    expect(decodeCursor(encodeCursor(at, "id-1"), "time")).toEqual({ value: "2026-12-05T10:00:00.123Z", id: "id-1" });
    expect(decodeCursor(encodeCursor("net-a", "id-2"), "text")).toEqual({ value: "net-a", id: "id-2" });
    for (const bad of ["bm90LWpzb24", Buffer.from(JSON.stringify(["x"])).toString("base64url"), encodeCursor("not a time", "id")]) {
      const kind = bad === encodeCursor("not a time", "id") ? "time" : "text";
      const err = (() => {
        try {
          decodeCursor(bad, kind);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).message).toContain(bad.slice(0, 20));
    }
  });

  it("takes LIKE wildcards in a search literally", () => {
    expect(containsPattern("10.0_1%\\x")).toBe("%10.0\\_1\\%\\\\x%");
  });

  it("cuts limit + 1 rows into a page and the cursor after its last row", () => {
    const rows = [{ id: "a", n: "1" }, { id: "b", n: "2" }, { id: "c", n: "3" }];
    const page = toPage(rows, 2, (r) => r.n);
    expect(page.items.map((r) => r.id)).toEqual(["a", "b"]);
    expect(decodeCursor(page.nextCursor!, "text")).toEqual({ value: "2", id: "b" });
    expect(toPage(rows, 3, (r) => r.n).nextCursor).toBeNull();
  });
});
