import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createHolderIndex } from "./holders";
import { serializeCachedAttachment, writeCachedAttachment } from "./index";

const entry = (containerId: string, netns: string, ifName = "eth0", networkName = "n1") => ({ kind: "cniCacheV1" as const, containerId, config: new Uint8Array(), ifName, networkName, netns });

describe("holder index: which cached attachment holds (netns, ifname)", () => {
  // Regular files stand in for namespace paths: what counts is that they exist and their ctime.
  function setup() {
    const dir = mkdtempSync(join(tmpdir(), "cni-holders-"));
    const ns = (name: string) => {
      const path = join(dir, name);
      writeFileSync(path, "");
      return path;
    };
    return { dir, ns, index: createHolderIndex(dir) };
  }

  it("finds another network's or container's entry for the same place, not its own, not another ifname or namespace", async () => {
    const { dir, ns, index } = setup();
    const a = ns("a");
    const b = ns("b");
    await writeCachedAttachment(dir, entry("c1", a));
    const self = { networkName: "n1", containerId: "c1", ifName: "eth0" };
    expect(index.find(a, "eth0", self)).toBeUndefined();
    expect(index.find(a, "eth0", { ...self, networkName: "n2" })).toMatchObject({ networkName: "n1", containerId: "c1", file: join(dir, "results", "n1-c1-eth0") });
    expect(index.find(a, "eth0", { ...self, containerId: "c2" })?.containerId).toBe("c1");
    expect(index.find(a, "eth1", { ...self, containerId: "c2" })).toBeUndefined();
    expect(index.find(b, "eth0", { ...self, containerId: "c2" })).toBeUndefined();
    // Written by someone else (another process, another runtime): seen at the next lookup; removed: gone.
    writeFileSync(join(dir, "results", "n3-c7-eth0"), serializeCachedAttachment(entry("c7", b, "eth0", "n3")));
    expect(index.find(b, "eth0", self)?.containerId).toBe("c7");
    rmSync(join(dir, "results", "n3-c7-eth0"));
    expect(index.find(b, "eth0", self)).toBeUndefined();
  });

  it("an entry older than the namespace at its path, or whose namespace is gone, holds nothing; an ADD in flight holds its place", async () => {
    const { dir, ns, index } = setup();
    const other = { networkName: "n2", containerId: "c2", ifName: "eth0" };
    const a = ns("a");
    const file = await writeCachedAttachment(dir, entry("c1", a));
    const past = new Date(Date.now() - 60_000);
    utimesSync(file, past, past);
    expect(index.find(a, "eth0", other)).toBeUndefined();
    const b = ns("b");
    await writeCachedAttachment(dir, entry("c3", b));
    rmSync(b);
    expect(index.find(b, "eth0", other)).toBeUndefined();
    const release = index.reserve({ networkName: "n9", containerId: "c9", ifName: "eth0", netns: b, file: join(dir, "results", "n9-c9-eth0") });
    expect(index.find(b, "eth0", other)?.containerId).toBe("c9");
    release();
    expect(index.find(b, "eth0", other)).toBeUndefined();
  });

  it("a file a crash left cut short holds nothing", async () => {
    const { dir, ns, index } = setup();
    const a = ns("a");
    await writeCachedAttachment(dir, entry("c0", ns("z")));
    writeFileSync(join(dir, "results", "n1-c1-eth0"), serializeCachedAttachment(entry("c1", a)).slice(0, 50));
    expect(index.find(a, "eth0", { networkName: "n2", containerId: "c2", ifName: "eth0" })).toBeUndefined();
  });

  it("costs a lookup in a map once the directory is known, whatever the number of entries", async () => {
    const { dir, ns, index } = setup();
    const a = ns("a");
    for (let i = 0; i < 1000; i++) await writeCachedAttachment(dir, entry(`c${i}`, a, `eth${i % 100}`, `n${i}`));
    const key = { networkName: "x", containerId: "y", ifName: "eth7" };
    const t0 = performance.now();
    expect(index.find(a, "eth7", key)).toBeDefined();
    const firstMs = performance.now() - t0;
    // The directory changed: a readdir of 1000 names, no file read again.
    await writeCachedAttachment(dir, entry("new", a, "eth500", "nn"));
    const t1 = performance.now();
    expect(index.find(a, "eth500", key)?.containerId).toBe("new");
    const changedMs = performance.now() - t1;
    console.log(`holder lookup, 1000 entries: first ${firstMs.toFixed(2)} ms (reads every file), after a change ${changedMs.toFixed(2)} ms`);
    expect(changedMs).toBeLessThan(firstMs);
  });
});
