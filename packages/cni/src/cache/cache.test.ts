import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CniError } from "../errors";
import { cacheFilePath, readCachedAttachment, scanCachedAttachments, serializeCachedAttachment, writeCachedAttachment } from "./index";

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

  it("reports a truncated or corrupt file as a CniError naming the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cni-cache-"));
    cpSync(GO_CACHE, dir, { recursive: true });
    const file = cacheFilePath(dir, key);
    writeFileSync(file, readFileSync(file, "utf8").slice(0, 100));
    const error = await readCachedAttachment(dir, key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CniError);
    expect((error as CniError).reason).toBe("cacheCorrupt");
    expect((error as CniError).file).toBe(file);
    expect((error as CniError).message).toContain(file);
    writeFileSync(join(dir, "results", "gonet-c9-eth0"), JSON.stringify({ kind: "other" }));
    const scan = await scanCachedAttachments(dir, "gonet");
    expect(scan.attachments).toEqual([]);
    expect(scan.errors.map((e) => e.file).sort()).toEqual([join(dir, "results", "gonet-c9-eth0"), file]);
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
