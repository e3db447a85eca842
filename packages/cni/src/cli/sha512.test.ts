import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { containerIdForNetns } from "./env";
import { sha512Hex } from "./sha512";

describe("sha512Hex (the CLI's container id without node:crypto)", () => {
  it("equals node:crypto's SHA-512 for every length around the block and padding edges, and non-ASCII text", () => {
    const inputs = ["", "abc", "/run/netns/web-1", "é/ü/ß/網/🙂"];
    for (let n = 100; n <= 260; n++) inputs.push("x".repeat(n));
    for (const text of inputs) expect(sha512Hex(text), JSON.stringify(text)).toBe(createHash("sha512").update(text).digest("hex"));
  });

  it("gives cnitool's container id", () => {
    const expected = `cnitool-${createHash("sha512").update("/var/run/netns/ns1").digest("hex").slice(0, 20)}`;
    expect(containerIdForNetns("/var/run/netns/ns1")).toBe(expected);
  });
});
