import { describe, expect, it } from "vitest";
import { CniError } from "../errors";
import { conflistFileName, serializeConflist } from "./serialize";
import type { Conflist } from "./types";

const conflist: Conflist = { name: "web", cniVersion: "1.0.0", plugins: [{ type: "bridge", zeta: 1, alpha: 2 }] };

describe("conflistFileName", () => {
  it("uses a two-digit priority, 10 by default", () => {
    expect(conflistFileName(conflist)).toBe("10-web.conflist");
    expect(conflistFileName(conflist, 5)).toBe("05-web.conflist");
    expect(conflistFileName(conflist, 99)).toBe("99-web.conflist");
  });

  it("refuses a priority out of range or a name unfit for a file", () => {
    expect(() => conflistFileName(conflist, 100)).toThrow(/priority 100 must be an integer from 0 to 99/);
    expect(() => conflistFileName({ name: "../etc" })).toThrow(CniError);
    expect(() => conflistFileName({ name: "../etc" })).toThrow(/name "..\/etc" cannot be a file name/);
  });
});

describe("serializeConflist", () => {
  it("writes 2-space JSON in the given key order with a trailing newline", () => {
    expect(serializeConflist(conflist)).toBe(
      '{\n  "name": "web",\n  "cniVersion": "1.0.0",\n  "plugins": [\n    {\n      "type": "bridge",\n      "zeta": 1,\n      "alpha": 2\n    }\n  ]\n}\n',
    );
    expect(serializeConflist(JSON.parse(serializeConflist(conflist)))).toBe(serializeConflist(conflist));
  });
});
