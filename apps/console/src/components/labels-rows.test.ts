import { Labels } from "@switchyard/api/schemas/services";
import { describe, expect, it } from "vitest";
import { labelsOf, rowsOf } from "./labels-rows";

describe("label rows", () => {
  it("gives the labels of valid rows, trimmed, skipping empty rows; the API's schema takes them", () => {
    const got = labelsOf([{ key: " app ", value: "web" }, { key: "", value: "" }, { key: "example.com/tier", value: "" }]);
    expect(got).toEqual({ ok: true, labels: { app: "web", "example.com/tier": "" } });
    expect(Labels.safeParse(got.ok && got.labels).success).toBe(true);
    expect(rowsOf({ a: "1" })).toEqual([{ key: "a", value: "1" }]);
  });

  it("names the key of each bad row, by row", () => {
    const got = labelsOf([{ key: "-bad", value: "x" }, { key: "app", value: "we b" }, { key: "app", value: "x" }, { key: "", value: "orphan" }, { key: "ok", value: "fine" }]);
    expect(got.ok).toBe(false);
    if (got.ok) return;
    expect(got.rowErrors.get(0)).toContain('label key "-bad"');
    expect(got.rowErrors.get(1)).toContain('label value "we b"');
    expect(got.rowErrors.get(3)).toContain('value "orphan": give it a key');
    expect(got.rowErrors.has(4)).toBe(false);
  });

  it("refuses a key given twice and more labels than the API allows", () => {
    const twice = labelsOf([{ key: "app", value: "a" }, { key: "app", value: "b" }]);
    expect(!twice.ok && twice.rowErrors.get(1)).toContain('"app" is given twice');
    const many = labelsOf(Array.from({ length: 65 }, (_, i) => ({ key: `k${i}`, value: "v" })));
    expect(!many.ok && many.error).toContain("at most 64");
  });
});
