import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hasPollutingKey } from "./http";

/** The check without its fast path: every key of the parsed text, as JSON.parse sees it. */
function walked(text: string): boolean {
  let found = false;
  JSON.parse(text, (key, value: unknown) => {
    if (key === "__proto__" || key === "constructor" || key === "prototype") found = true;
    return value;
  });
  return found;
}

/** JSON text of `value` with some characters of its strings written as \uXXXX escapes. */
function escapedJson(value: unknown, escapeAt: (i: number) => boolean): string {
  let i = 0;
  return JSON.stringify(value).replace(/"(?:[^"\\]|\\.)*"/g, (literal) => {
    const s = JSON.parse(literal) as string;
    let out = '"';
    for (const ch of s) {
      if (escapeAt(i++)) out += [...ch].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`).join("");
      else out += JSON.stringify(ch).slice(1, -1);
    }
    return `${out}"`;
  });
}

const key = fc.oneof(fc.constantFrom("__proto__", "constructor", "prototype", "json", "proto", "construct"), fc.string({ maxLength: 12 }));
const tree = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small" },
    fc.string({ maxLength: 8 }),
    fc.integer(),
    fc.array(tie("node"), { maxLength: 4 }),
    fc.array(fc.tuple(key, tie("node")), { maxLength: 4 }).map((entries) => {
      const o: Record<string, unknown> = {};
      for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, configurable: true, writable: true });
      return o;
    }),
  ),
})).node;

describe("hasPollutingKey", () => {
  it("finds what the full walk finds, for literal and \\u-escaped keys (property)", () => {
    fc.assert(
      fc.property(tree, fc.array(fc.boolean(), { minLength: 1, maxLength: 64 }), (value, mask) => {
        const text = escapedJson(value, (i) => mask[i % mask.length]!);
        expect(hasPollutingKey(text)).toBe(walked(text));
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses the known spellings and passes a report without them", () => {
    expect(hasPollutingKey('{"json":{"__proto__":{"admin":true}}}')).toBe(true);
    expect(hasPollutingKey('{"json":{"\\u005f_proto__":1}}')).toBe(true);
    expect(hasPollutingKey('{"json":{"constructo\\u0072":1}}')).toBe(true);
    expect(hasPollutingKey('[{"prototype":1}]')).toBe(true);
    // The words as values are no keys.
    expect(hasPollutingKey('{"note":"constructor","x":"__proto__"}')).toBe(false);
    expect(hasPollutingKey('{"json":{"leases":[{"address":"10.0.0.2","containerId":"c"}]}}')).toBe(false);
  });

  it("throws on text that is not JSON, with or without the fast path", () => {
    expect(() => hasPollutingKey('{"a":')).toThrow();
    expect(() => hasPollutingKey('{"\\u005f":')).toThrow();
  });
});
