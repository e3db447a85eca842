import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CniError } from "../errors";
import { cacheFilePath, deleteCachedAttachment, readCachedAttachment, scanCachedAttachments, serializeCachedAttachment, writeCachedAttachment } from "./index";

const GO_CACHE = join(__dirname, "../../test/fixtures/go-cache");
const key = { networkName: "gonet", containerId: "ctr1", ifName: "eth0" };

describe("result cache (Go libcni format)", () => {
  it("reads a file written by Go libcni", async () => {
    const entry = await readCachedAttachment(GO_CACHE, key);
    expect(entry).not.toBeNull();
    expect(new TextDecoder().decode(entry!.config)).toBe(readFileSync(join(GO_CACHE, "gonet.conflist"), "utf8"));
    expect(entry!.netns).toBe("/var/run/netns/gone");
    expect(entry!.cniArgs).toEqual([["K8S_POD_NAME", "web"]]);
    expect(entry!.capabilityArgs).toEqual({ portMappings: [{ containerPort: 80, hostPort: 8080, protocol: "tcp" }] });
    expect((entry!.result as { ips: unknown[] }).ips).toHaveLength(1);
  });

  it("writes the same bytes Go writes for the same entry", async () => {
    const text = readFileSync(join(GO_CACHE, "results/gonet-ctr1-eth0"), "utf8");
    const entry = await readCachedAttachment(GO_CACHE, key);
    expect(serializeCachedAttachment(entry!)).toBe(text);
  });

  it("writes atomically at <cacheDir>/results/<net>-<id>-<ifname> with mode 0600, no temp file left", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-cache-"));
    const entry = (await readCachedAttachment(GO_CACHE, key))!;
    const file = await writeCachedAttachment(dir, { ...entry, containerId: "c2" });
    expect(file).toBe(join(dir, "results", "gonet-c2-eth0"));
    expect(readdirSync(join(dir, "results"))).toEqual(["gonet-c2-eth0"]);
    const { statSync } = await import("node:fs");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, "utf8")).kind).toBe("cniCacheV1");
  });

  it("reads a file a crash left empty, NUL-filled or cut short as absent; reports a complete but corrupt one, naming the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-cache-"));
    cpSync(GO_CACHE, dir, { recursive: true });
    const file = cacheFilePath(dir, key);
    const whole = readFileSync(file, "utf8");
    for (const cut of ["", "\0\0\0\0", " \n", whole.slice(0, 1), whole.slice(0, 14), whole.slice(0, 100), whole.slice(0, -1), `${whole.slice(0, 60)}\0\0\0`]) {
      writeFileSync(file, cut);
      expect(await readCachedAttachment(dir, key)).toBeNull();
    }
    for (const [bad, why] of [
      ['{"kind":"other"}', 'kind is "other", expected "cniCacheV1"'],
      ["\u0001{not json", "not valid JSON"],
      [`${whole}}`, "not valid JSON"],
    ] as const) {
      writeFileSync(file, bad);
      const error = await readCachedAttachment(dir, key).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CniError);
      expect(error).toMatchObject({ reason: "cacheCorrupt", file, code: 6 });
      expect((error as CniError).message.startsWith(`corrupt result cache file: ${file}: ${why}`)).toBe(true);
    }
    writeFileSync(file, whole.slice(0, 100));
    writeFileSync(join(dir, "results", "gonet-c9-eth0"), JSON.stringify({ kind: "other" }));
    const scan = await scanCachedAttachments(dir, "gonet");
    expect(scan.attachments).toEqual([]);
    expect(scan.errors.map((e) => e.message).sort()).toEqual([
      `corrupt result cache file: ${join(dir, "results", "gonet-c9-eth0")}: kind is "other", expected "cniCacheV1"`,
      `corrupt result cache file: ${file}: empty or cut short (a crash while it was written): read as no attachment`,
    ]);
  });

  it("names the file, once, when the cache cannot be written or removed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-cache-"));
    // results/ is a regular file: every call under it fails with ENOTDIR.
    writeFileSync(join(dir, "results"), "");
    const entry = { kind: "cniCacheV1" as const, containerId: "c1", config: new Uint8Array(), ifName: "eth0", networkName: "n" };
    const file = join(dir, "results", "n-c1-eth0");
    const error = await writeCachedAttachment(dir, entry).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CniError);
    expect(error).toMatchObject({ code: 5, file });
    expect((error as CniError).message).toBe(`cannot write result cache file: ${file}: ENOTDIR: not a directory, open`);
    const removal = await deleteCachedAttachment(dir, entry).catch((e: unknown) => e);
    expect((removal as CniError).message).toBe(`cannot remove result cache file: ${file}: ENOTDIR: not a directory, unlink`);
  });

  it("returns null when there is no file, and reads a legacy result-only file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-cache-"));
    expect(await readCachedAttachment(dir, key)).toBeNull();
    await writeCachedAttachment(dir, { kind: "cniCacheV1", containerId: "x", config: new Uint8Array(), ifName: "eth0", networkName: "n" });
    writeFileSync(cacheFilePath(dir, key), JSON.stringify({ cniVersion: "0.3.1", ips: [] }));
    const legacy = await readCachedAttachment(dir, key);
    expect(legacy?.legacy).toBe(true);
    expect(existsSync(cacheFilePath(dir, key))).toBe(true);
  });
});
