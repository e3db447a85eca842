import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { createTestNetns } from "../../test/fixtures/harness";
import { CniError } from "../errors";
import { checkNetns, validateAttachmentIds, validateContainerId, validateIfName, validateNetworkName } from "./index";

describe("attachment ids", () => {
  it.each(["", "-x", "../x", "a/b", "a b", "a:b", "é", "x".repeat(256)])("refuses container id %j", (id) => {
    expect(() => validateContainerId(id)).toThrow(CniError);
  });
  it("uses libcni's codes", () => {
    expect(() => validateContainerId("")).toThrow(expect.objectContaining({ code: 3 }));
    expect(() => validateContainerId("a/b")).toThrow(expect.objectContaining({ code: 4 }));
    expect(() => validateNetworkName("a b")).toThrow(expect.objectContaining({ code: 7 }));
    expect(() => validateIfName("eth0/x")).toThrow(expect.objectContaining({ code: 4 }));
  });
  it.each(["", ".", "..", "eth0/x", "eth:0", "eth 0", "a".repeat(16), "ethé"])("refuses ifname %j", (name) => {
    expect(() => validateIfName(name)).toThrow(CniError);
  });
  it("accepts ordinary ids", () => {
    expect(() => validateAttachmentIds({ networkName: "team-a.web_1", containerId: "0123abc", ifName: "a".repeat(15) })).not.toThrow();
  });
});

describe("netns", () => {
  it("refuses the host's and our own netns, other namespace types, non-nsfs files and missing paths", async () => {
    for (const path of ["/proc/self/ns/net", "/proc/1/ns/net", "/proc/self/ns/mnt", "/etc/passwd", "relative", "/run/netns/nope-xyz", ""]) {
      await expect(checkNetns(path)).rejects.toBeInstanceOf(CniError);
    }
  });
  it("lets DEL through with a missing path", async () => {
    expect(await checkNetns("/run/netns/nope-xyz", { allowMissing: true })).toBe(false);
    expect(await checkNetns("", { allowMissing: true })).toBe(false);
    await expect(checkNetns("/etc/passwd", { allowMissing: true })).rejects.toThrow(/not a network namespace/);
  });

  it.runIf(process.getuid?.() === 0)("with netnsDirs: only entries directly in those directories (no symlinks, no ..) or /proc/<pid>/ns/net", async () => {
    const ns = await createTestNetns();
    if (!ns) return expect.unreachable("unshare --net is needed");
    const dir = mkdtempSync(join(tmpdir(), "netns-dir-"));
    const bound = join(dir, "box");
    writeFileSync(bound, "");
    try {
      // A bind mount of the namespace, as `ip netns add` makes under /run/netns.
      expect(spawnSync("mount", ["--bind", ns.path, bound]).status).toBe(0);
      expect(await checkNetns(bound, { netnsDirs: [dir] })).toBe(true);
      expect(await checkNetns(ns.path, { netnsDirs: [dir] })).toBe(true);
      symlinkSync(bound, join(dir, "link"));
      await expect(checkNetns(join(dir, "link"), { netnsDirs: [dir] })).rejects.toThrow(/is a symlink/);
      await expect(checkNetns(`${dir}/../${basename(dir)}/box`, { netnsDirs: [dir] })).rejects.toThrow(/is not in/);
      await expect(checkNetns(bound, { netnsDirs: ["/run/netns"] })).rejects.toThrow(/is not in \/run\/netns/);
      // Outside the directories is refused before the path is looked at, DEL included.
      await expect(checkNetns("/tmp/elsewhere/x", { netnsDirs: [dir], allowMissing: true })).rejects.toThrow(/is not in/);
      expect(await checkNetns(join(dir, "gone"), { netnsDirs: [dir], allowMissing: true })).toBe(false);
    } finally {
      spawnSync("umount", [bound]);
      rmSync(dir, { recursive: true, force: true });
      ns.cleanup();
    }
  });
});
