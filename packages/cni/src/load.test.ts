import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CniError } from "./errors";
import { loadCachedNetworkList, loadConfDir, loadNetworkList } from "./load";

const plugin = { type: "bridge", bridge: "br0", ipam: { type: "host-local", subnet: "10.1.0.0/24" } };

describe("loading network lists", () => {
  it("negotiates cniVersions, reads flags and keeps the raw bytes", () => {
    const text = JSON.stringify({ cniVersion: "1.0.0", cniVersions: ["1.0.0", "1.1.0", "9.0.0"], name: "n", disableCheck: "true", disableGC: false, plugins: [plugin] });
    const list = loadNetworkList(text);
    expect(list).toMatchObject({ name: "n", cniVersion: "1.1.0", disableCheck: true, disableGC: false, loadOnlyInlinedPlugins: false });
    expect(new TextDecoder().decode(list.bytes)).toBe(text);
    expect(list.plugins[0]!.type).toBe("bridge");
  });

  it("wraps a single .conf", () => {
    const list = loadNetworkList(JSON.stringify({ cniVersion: "1.0.0", name: "single", ...plugin }));
    expect(list.plugins.map((p) => p.type)).toEqual(["bridge"]);
  });

  it("names the source and the field in errors", () => {
    const error = (() => {
      try {
        loadNetworkList('{"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "../x"}]}', { source: "/etc/cni/net.d/10-x.conflist" });
      } catch (e) {
        return e as CniError;
      }
    })();
    expect(error?.message).toMatch(/^\/etc\/cni\/net\.d\/10-x\.conflist: plugins\[0\]\.type: /);
    expect(error?.message.split("/etc/cni/net.d/10-x.conflist")).toHaveLength(2);
  });

  it("adds plugins from <dir>/<name>/*.conf unless loadOnlyInlinedPlugins", () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-conf-"));
    mkdirSync(join(dir, "n"));
    writeFileSync(join(dir, "n", "20-portmap.conf"), JSON.stringify({ cniVersion: "0.4.0", name: "ignored", type: "portmap", capabilities: { portMappings: true } }));
    writeFileSync(join(dir, "n", "10-tuning.conf"), JSON.stringify({ type: "tuning" }));
    const base = { cniVersion: "1.1.0", name: "n", plugins: [plugin] };
    expect(loadNetworkList(JSON.stringify(base), { confDir: dir }).plugins.map((p) => p.type)).toEqual(["bridge", "tuning", "portmap"]);
    expect(loadNetworkList(JSON.stringify({ ...base, loadOnlyInlinedPlugins: true }), { confDir: dir }).plugins.map((p) => p.type)).toEqual(["bridge"]);
  });

  it("loads a conf dir in file-name order, reporting bad files by name without hiding the others", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-conf-"));
    writeFileSync(join(dir, "20-b.conflist"), JSON.stringify({ cniVersion: "1.0.0", name: "b", plugins: [plugin] }));
    writeFileSync(join(dir, "10-a.conf"), JSON.stringify({ cniVersion: "1.0.0", name: "a", ...plugin }));
    writeFileSync(join(dir, "15-bad.json"), "{ not json");
    writeFileSync(join(dir, "30-dup.conflist"), JSON.stringify({ cniVersion: "1.0.0", name: "a", plugins: [plugin] }));
    writeFileSync(join(dir, "README.md"), "ignored");
    const { networks, errors } = await loadConfDir(dir);
    expect(networks.map((n) => n.name)).toEqual(["a", "b"]);
    expect(errors.map((e) => e.file)).toEqual([join(dir, "15-bad.json"), join(dir, "30-dup.conflist")]);
    expect(errors[0]!.error.message).toContain("15-bad.json");
    // Duplicate names: the first file by name wins, the later one is reported (README: where we differ).
    expect(networks[0]!.source).toBe(join(dir, "10-a.conf"));
    expect(errors[1]!.error.message).toBe(`${join(dir, "30-dup.conflist")}: network "a" is already defined by 10-a.conf`);
  });

  it("reads cached bytes leniently", () => {
    const list = loadCachedNetworkList(new TextEncoder().encode(JSON.stringify({ cniVersion: "0.4.0", name: "n", disableCheck: "TRUE", plugins: [{ type: "weird", futureOption: 1 }] })));
    expect(list).toMatchObject({ name: "n", cniVersion: "0.4.0", disableCheck: true });
    expect(loadCachedNetworkList(new TextEncoder().encode("{"))).toBeUndefined();
  });
});
