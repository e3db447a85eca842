import { describe, expect, it } from "vitest";
import { canonicalJson, conflistDigest } from "./digest";

describe("conflist digest", () => {
  it("ignores key order and layout, not values", () => {
    const a = { cniVersion: "1.0.0", name: "lab", plugins: [{ type: "bridge", ipam: { type: "host-local", ranges: [[{ subnet: "10.1.0.0/24" }]] } }] };
    const b = JSON.parse(`{"plugins":[{"ipam":{"ranges":[[{"subnet":"10.1.0.0/24"}]],"type":"host-local"},"type":"bridge"}],
      "name": "lab", "cniVersion": "1.0.0"}`);
    expect(canonicalJson(b)).toBe(canonicalJson(a));
    expect(conflistDigest(b)).toBe(conflistDigest(a));
    expect(conflistDigest(a)).toMatch(/^[0-9a-f]{64}$/);
    const changed = structuredClone(a);
    changed.plugins[0]!.ipam.ranges[0]![0]!.subnet = "10.1.1.0/24";
    expect(conflistDigest(changed)).not.toBe(conflistDigest(a));
    // Array order is meaning (plugin order): it counts.
    expect(canonicalJson({ p: [1, 2] })).not.toBe(canonicalJson({ p: [2, 1] }));
    expect(canonicalJson({ s: 'q"\u2028', n: 1.5, t: true, z: null })).toBe('{"n":1.5,"s":"q\\"\u2028","t":true,"z":null}');
  });
});
