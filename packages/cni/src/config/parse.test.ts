import { describe, expect, it } from "vitest";
import { locateIssues, parseNetworkConfig } from "./parse";
import type { ConfigResult } from "./types";

const bridgeConflist = {
  cniVersion: "1.0.0",
  name: "web",
  plugins: [
    {
      type: "bridge",
      bridge: "sy-web",
      isGateway: true,
      ipMasq: true,
      ipam: { type: "host-local", ranges: [[{ subnet: "10.1.0.0/24", gateway: "10.1.0.1" }]] },
    },
    { type: "portmap", capabilities: { portMappings: true } },
  ],
};

function errorsOf(result: ConfigResult) {
  expect(result.ok).toBe(false);
  return result.ok ? [] : result.errors;
}

describe("parseNetworkConfig", () => {
  it("accepts a valid conflist with no issues, keeping key order", () => {
    const text = JSON.stringify(bridgeConflist, null, 2);
    const result = parseNetworkConfig(text);
    expect(result).toEqual({ ok: true, conflist: bridgeConflist, warnings: [] });
    expect(result.ok && Object.keys(result.conflist)).toEqual(["cniVersion", "name", "plugins"]);
  });

  it("refuses malformed JSON with its position", () => {
    const text = '{\n  "cniVersion": "1.0.0"\n  "name": "x"\n}';
    const [error, ...rest] = errorsOf(parseNetworkConfig(text));
    expect(error?.message).toBe('malformed JSON at line 3, column 3: expected ","');
    expect(error?.offset).toBe(text.indexOf('"name"'));
    expect(error?.path).toEqual([]);
    expect(rest.length).toBeLessThanOrEqual(9);
  });

  it.each([
    ['{"name": "x", // c\n}', "comments are not allowed in JSON"],
    ['{"name": "x",}', "expected a property name in double quotes"],
    ["", "expected a value"],
    ['{"name": "x"} {}', "unexpected content after the end of the JSON value"],
    ['{"name": "a\u0001"}', "invalid character in string"],
  ])("refuses non-strict JSON %j", (text, message) => {
    const errors = errorsOf(parseNetworkConfig(text));
    expect(errors[0]?.message).toContain("malformed JSON at line 1");
    expect(errors.map((e) => e.message).join("\n")).toContain(message);
  });

  it("refuses a 10 MB conflist before parsing it", () => {
    const huge = `{"cniVersion":"1.0.0","name":"big","plugins":[${'{"type":"bridge"},'.repeat(600_000)}{"type":"bridge"}]}`;
    expect(huge.length).toBeGreaterThan(10_000_000);
    const started = performance.now();
    const errors = errorsOf(parseNetworkConfig(huge));
    expect(performance.now() - started).toBeLessThan(50);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.path).toEqual([]);
    expect(errors[0]?.message).toMatch(/^configuration is at least \d+ bytes: the limit is 1048576 bytes$/);
  });

  it("measures the limit in UTF-8 bytes and honours maxBytes", () => {
    const text = JSON.stringify({ ...bridgeConflist, name: "web" }).replace('"web"', '"w\u00e9b"');
    const bytes = new TextEncoder().encode(text).length;
    expect(errorsOf(parseNetworkConfig(text, { maxBytes: bytes - 1 }))[0]?.message).toBe(
      `configuration is ${bytes} bytes: the limit is ${bytes - 1} bytes`,
    );
  });

  it("refuses 10,000-deep nesting without overflowing the stack", () => {
    const deep = `{"cniVersion":"1.0.0","name":"d","plugins":[{"type":"x","deep":${"[".repeat(10_000)}${"]".repeat(10_000)}}]}`;
    const errors = errorsOf(parseNetworkConfig(deep));
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(/^configuration nests deeper than 32 levels at line 1, column \d+: flatten it$/);
    // Levels: top object, plugins, plugin, then the 30th "[" of "deep" is level 33.
    expect(errors[0]?.offset).toBe(deep.indexOf("[[") + 29);
  });

  it("honours maxDepth", () => {
    const text = JSON.stringify({ ...bridgeConflist, plugins: [{ type: "x", a: { b: { c: {} } } }] });
    expect(parseNetworkConfig(text, { maxDepth: 5 }).ok).toBe(false);
    expect(parseNetworkConfig(text, { maxDepth: 6 }).ok).toBe(true);
  });

  it("refuses duplicate keys, naming the key and where it is", () => {
    const text = '{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"bridge","mtu":1500,"mtu":9000,"ipam":{}}]}';
    const errors = errorsOf(parseNetworkConfig(text));
    expect(errors).toEqual([
      {
        path: ["plugins", 0, "mtu"],
        message: 'duplicate key "mtu" in ["plugins",0]: each key may appear once',
        severity: "error",
        offset: text.lastIndexOf('"mtu"'),
        length: 5,
      },
    ]);
    const top = errorsOf(parseNetworkConfig('{"name":"a","name":"b"}'));
    expect(top[0]?.message).toBe('duplicate key "name" at the top level: each key may appear once');
  });

  it.each([
    ["[]", "an array"],
    ['"conflist"', "a string"],
    ["42", "a number"],
    ["null", "a null"],
  ])("refuses a non-object top level %s", (text, kind) => {
    expect(errorsOf(parseNetworkConfig(text))[0]?.message).toBe(`the top level must be a JSON object ({…}), got ${kind}`);
  });

  it("points validation errors at the offending value in the text", () => {
    const text = JSON.stringify({ ...bridgeConflist, cniVersion: "9.9.9" }, null, 2);
    const [error] = errorsOf(parseNetworkConfig(text));
    expect(error?.path).toEqual(["cniVersion"]);
    expect(error?.message).toContain('cniVersion "9.9.9" is not supported');
    expect(text.slice(error!.offset!, error!.offset! + error!.length!)).toBe('"9.9.9"');
  });

  it("points at the key of an object value and at the enclosing object for a missing field", () => {
    const text = '{"cniVersion":"1.0.0","name":"a","runtimeConfig":{"x":1},"plugins":[{"ipam":{}}]}';
    const errors = errorsOf(parseNetworkConfig(text));
    const reserved = errors.find((e) => e.path[0] === "runtimeConfig");
    expect(text.slice(reserved!.offset!, reserved!.offset! + reserved!.length!)).toBe('"runtimeConfig"');
    const missingType = errors.find((e) => e.path.join(".") === "plugins.0.type");
    expect(missingType?.message).toBe('type is required: the name of the plugin executable, like "bridge"');
    expect(missingType?.offset).toBe(text.indexOf('{"ipam"'));
  });

  it("wraps a single-plugin .conf into a conflist without warnings", () => {
    const conf = {
      cniVersion: "1.0.0",
      name: "solo",
      type: "bridge",
      bridge: "sy-solo",
      ipam: { type: "host-local", subnet: "10.9.0.0/24" },
    };
    const result = parseNetworkConfig(JSON.stringify(conf));
    expect(result).toEqual({
      ok: true,
      conflist: {
        cniVersion: "1.0.0",
        name: "solo",
        plugins: [{ type: "bridge", bridge: "sy-solo", ipam: { type: "host-local", subnet: "10.9.0.0/24" } }],
      },
      warnings: [],
    });
  });

  it("maps errors in a wrapped .conf back to the .conf's text", () => {
    const text = '{"cniVersion":"1.0.0","name":"solo","type":"bridge","bridge":"this-name-is-too-long","ipam":{}}';
    const [error] = errorsOf(parseNetworkConfig(text));
    expect(error?.path).toEqual(["plugins", 0, "bridge"]);
    expect(text.slice(error!.offset!, error!.offset! + error!.length!)).toBe('"this-name-is-too-long"');
  });

  it("locates issues found later (overlap warnings) in the text", () => {
    const text = JSON.stringify(bridgeConflist, null, 2);
    const [located] = locateIssues(text, [
      { path: ["plugins", 0, "ipam", "ranges", 0, 0, "subnet"], message: "m", severity: "warning" },
    ]);
    expect(text.slice(located!.offset!, located!.offset! + located!.length!)).toBe('"10.1.0.0/24"');
  });
});
