import { describe, expect, it } from "vitest";
import { redactSecrets } from "./audit";

describe("redactSecrets", () => {
  it("removes secret-named keys at any depth and keeps the rest", () => {
    expect(redactSecrets({ username: "a", password: "p", nested: [{ passwordHash: "h", token: "t", ok: 1 }] })).toEqual({
      username: "a",
      password: "[redacted]",
      nested: [{ passwordHash: "[redacted]", token: "[redacted]", ok: 1 }],
    });
  });
});
