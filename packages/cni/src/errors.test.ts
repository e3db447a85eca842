import { describe, expect, it } from "vitest";
import { CNI_ERROR_CODES, CniError, formatIssuePath } from "./errors";

describe("CniError", () => {
  it("carries the spec code, msg and details", () => {
    const error = new CniError(CNI_ERROR_CODES.incompatibleVersion, "incompatible CNI versions", "config is 2.0.0");
    expect(error.toJSON()).toEqual({ code: 1, msg: "incompatible CNI versions", details: "config is 2.0.0" });
    expect(error.message).toBe("incompatible CNI versions: config is 2.0.0");
  });

  it("summarises config issues as an invalid network config (7)", () => {
    const error = CniError.fromConfigIssues([
      { path: ["plugins", 0, "type"], message: 'type "" is invalid: must not be empty', severity: "error" },
      { path: ["x"], message: "ignored", severity: "warning" },
    ]);
    // Each issue once, with its field: no "<message>: <field>: <message>".
    expect(error.toJSON()).toEqual({ code: 7, msg: 'plugins[0].type: type "" is invalid: must not be empty' });
    expect(error.message).toBe('plugins[0].type: type "" is invalid: must not be empty');
    const two = CniError.fromConfigIssues([
      { path: ["plugins", 0, "type"], message: "a", severity: "error" },
      { path: ["name"], message: "b", severity: "error" },
    ]);
    expect(two.message).toBe("plugins[0].type: a: 1 more: name: b");
  });

  it("formats paths", () => {
    expect(formatIssuePath([])).toBe("(root)");
    expect(formatIssuePath(["plugins", 1, "ipam", "ranges", 0, 0, "subnet"])).toBe("plugins[1].ipam.ranges[0][0].subnet");
    expect(formatIssuePath(["cni.dev/x"])).toBe('["cni.dev/x"]');
  });
});
