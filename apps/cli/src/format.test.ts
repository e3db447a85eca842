import { describe, expect, it } from "vitest";
import { age, colors, fieldPath, formatTable } from "./format";
import { fileIssue, planSummary, renderPlan, type PlanChange } from "./plan";
import { retryAfterSeconds } from "./client";

describe("tables", () => {
  it("align every column to its widest cell, last column unpadded, empty cells as -", () => {
    expect(formatTable(["NAME", "N", "NOTE"], [["a", 1, "x"], ["longer-name", 22, null], ["b", undefined, "multi\nline"]])).toBe(
      ["NAME          N    NOTE", "a             1    x", "longer-name   22   -", "b             -    multi line", ""].join("\n"),
    );
  });

  it("ages read like kubectl's", () => {
    const now = Date.parse("2026-12-07T12:00:00Z");
    expect(age(new Date(now - 30_000), now)).toBe("30s");
    expect(age(new Date(now - 5 * 60_000), now)).toBe("5m");
    expect(age("2026-12-07T09:00:00Z", now)).toBe("3h");
    expect(age(new Date(now - 3 * 86_400_000), now)).toBe("3d");
    expect(age(null, now)).toBe("-");
  });

  it("field paths as a reader writes them", () => {
    expect(fieldPath(["plugins", 0, "ipam", "ranges", 0, 0, "subnet"])).toBe("plugins[0].ipam.ranges[0][0].subnet");
    expect(fieldPath([])).toBe("");
    expect(fileIssue("10-a.conflist", ["name"], "bad")).toBe("10-a.conflist: name: bad");
    expect(fileIssue("10-a.conflist", [], "not JSON")).toBe("10-a.conflist: not JSON");
  });
});

describe("the plan as people read it", () => {
  const changes: PlanChange[] = [
    { kind: "network", name: "lab", action: "update", file: "10-lab.conflist", diff: "@@ -1 +1 @@\n-  old\n+  new", impact: ["2 attachments on 1 host run an older revision"], warnings: ["overlaps net2"] },
    { kind: "service", name: "web", action: "unchanged", file: "services/web.json", diff: "", impact: [], warnings: [] },
    { kind: "network", name: "gone", action: "delete", file: null, diff: "", impact: [], warnings: [] },
  ];
  it("shows each change with its diff, impact and warnings; unchanged only with -v; no colour unless asked", () => {
    const plain = renderPlan({ changes }, { c: colors(false), verbose: false });
    expect(plain).toBe(
      [
        "~ network lab (10-lab.conflist): update",
        "    @@ -1 +1 @@",
        "    -  old",
        "    +  new",
        "    impact: 2 attachments on 1 host run an older revision",
        "    warning: overlaps net2",
        "- network gone: delete",
        "",
      ].join("\n"),
    );
    expect(renderPlan({ changes }, { c: colors(false), verbose: true })).toContain("= service web (services/web.json): unchanged");
    const coloured = renderPlan({ changes }, { c: colors(true), verbose: false });
    expect(coloured).toContain("\x1b[31m-  old\x1b[39m");
    expect(coloured).toContain("\x1b[32m+  new\x1b[39m");
    expect(planSummary({ changes })).toBe("0 to create, 1 to update, 1 to delete, 1 unchanged");
  });
});

describe("Retry-After", () => {
  it("is read as seconds or a date, at least 1 s and at most 30 s", () => {
    expect(retryAfterSeconds("3")).toBe(3);
    expect(retryAfterSeconds("0")).toBe(1);
    expect(retryAfterSeconds("3600")).toBe(30);
    expect(retryAfterSeconds(new Date(Date.parse("2026-01-01T00:00:05Z")).toUTCString(), Date.parse("2026-01-01T00:00:00Z"))).toBe(5);
    expect(retryAfterSeconds(null)).toBe(1);
    expect(retryAfterSeconds("soon")).toBe(1);
  });
});
