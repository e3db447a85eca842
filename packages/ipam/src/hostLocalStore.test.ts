import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { digestHostLocalStore, readHostLocalStore } from "./hostLocalStore";
import { normaliseIpamRanges } from "./ranges";

let root: string;
let dataDir: string;
let netDir: string;

beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), "ipam-store-")));
  dataDir = join(root, "networks");
  netDir = join(dataDir, "net1");
  mkdirSync(netDir, { recursive: true });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const read = (extra: Partial<Parameters<typeof readHostLocalStore>[0]> = {}) => readHostLocalStore({ dataDir, network: "net1", ...extra });
const kinds = (r: Awaited<ReturnType<typeof read>>) => r.findings.map((f) => `${f.kind} ${f.file}`);
const put = (name: string, content: string | Buffer) => writeFileSync(join(netDir, name), content);

describe("readHostLocalStore: what host-local writes", () => {
  it("reads leases of both formats, the last reserved address per range set, and skips the lock", async () => {
    put("10.1.0.2", "c1\r\neth0");
    put("10.1.0.3", "c2"); // plugins before 0.8: the id alone
    put("10.1.0.4", "c3\r\n"); // trailing line break tolerated, as host-local trims
    put("10.1.0.10", "c4\neth1\n");
    put("last_reserved_ip.0", "10.1.0.10");
    put("last_reserved_ip.1", "fd00::3");
    put("lock", "");
    const r = await read();
    expect(r.findings).toEqual([]);
    expect(r.exists).toBe(true);
    expect(r.entries).toBe(7);
    expect(r.leases.map(({ address, containerId, ifName, family }) => ({ address, containerId, ifName, family }))).toEqual([
      { address: "10.1.0.2", containerId: "c1", ifName: "eth0", family: 4 },
      { address: "10.1.0.3", containerId: "c2", ifName: "", family: 4 },
      { address: "10.1.0.4", containerId: "c3", ifName: "", family: 4 },
      { address: "10.1.0.10", containerId: "c4", ifName: "eth1", family: 4 }, // numeric order, not text order
    ]);
    expect(r.leases[0]!.mtimeMs).toBeGreaterThan(Date.now() - 60_000);
    expect(r.reservedIps).toEqual([{ rangeSet: 0, address: "10.1.0.10" }, { rangeSet: 1, address: "fd00::3" }]);
  });

  it("reads IPv6 leases by their canonical name and reports other spellings host-local never writes", async () => {
    put("fd00:1::5", "c1\r\neth0");
    put("fd00:1:0::6", "c2\r\neth0");
    put("FD00:1::7", "c3\r\neth0");
    put("::ffff:10.1.0.9", "c4\r\neth0");
    const r = await read();
    expect(r.leases.map((l) => `${l.address} ${l.family}`)).toEqual(["fd00:1::5 6"]);
    expect(kinds(r).sort()).toEqual(["non-canonical-name FD00:1::7", "non-canonical-name fd00:1:0::6", "not-an-address ::ffff:10.1.0.9"]);
  });

  it("is an empty read without findings when the network has no directory yet", async () => {
    const r = await read({ network: "never-used" });
    expect(r).toMatchObject({ exists: false, leases: [], findings: [], entries: 0 });
  });
});

describe("readHostLocalStore: bad input", () => {
  it("does not follow a lease file that is a symlink; the address stays held with an unknown holder", async () => {
    const secret = join(root, "secret");
    writeFileSync(secret, "root-only\r\neth9");
    symlinkSync(secret, join(netDir, "10.1.0.7"));
    const r = await read();
    expect(kinds(r)).toEqual(["symlink 10.1.0.7"]);
    expect(r.leases).toMatchObject([{ address: "10.1.0.7", containerId: "", ifName: "" }]);
    expect(JSON.stringify(r)).not.toContain("root-only");
  });

  it("refuses a data dir that is a symlink, a network dir that is a symlink, and a link higher in the path", async () => {
    const elsewhere = join(root, "elsewhere");
    mkdirSync(join(elsewhere, "net1"), { recursive: true });
    writeFileSync(join(elsewhere, "net1", "10.9.0.2"), "outside\r\neth0");
    symlinkSync(elsewhere, join(root, "linked-data"));
    const viaDataDir = await readHostLocalStore({ dataDir: join(root, "linked-data"), network: "net1" });
    expect(viaDataDir.leases).toEqual([]);
    expect(viaDataDir.findings.map((f) => f.kind)).toEqual(["data-dir-symlink"]);
    symlinkSync(join(elsewhere, "net1"), join(dataDir, "net2"));
    const viaNetDir = await read({ network: "net2" });
    expect(viaNetDir.leases).toEqual([]);
    expect(viaNetDir.findings.map((f) => f.kind)).toEqual(["data-dir-symlink"]);
    symlinkSync(root, join(root, "linked-root"));
    writeFileSync(join(netDir, "10.1.0.2"), "outside\r\neth0");
    const viaParent = await readHostLocalStore({ dataDir: join(root, "linked-root", "networks"), network: "net1" });
    expect(viaParent.findings.map((f) => f.kind)).toEqual(["data-dir-symlink"]);
    expect(JSON.stringify([viaDataDir, viaNetDir, viaParent])).not.toContain("outside");
    // The digest refuses them too, and reads nothing behind them.
    expect(await digestHostLocalStore({ dataDir: join(root, "linked-data"), network: "net1" })).toMatchObject({ entries: 0 });
  });

  it("reports a directory named like an address, and a fifo, without hanging on it", async () => {
    mkdirSync(join(netDir, "10.1.0.8"));
    execFileSync("mkfifo", [join(netDir, "10.1.0.9")]);
    const r = await read();
    expect(kinds(r).sort()).toEqual(["directory 10.1.0.8", "not-regular-file 10.1.0.9"]);
    expect(r.leases.map((l) => l.address)).toEqual(["10.1.0.8", "10.1.0.9"]);
  });

  it("reads no more than the size bound of a huge file", async () => {
    put("10.1.0.11", Buffer.alloc(8 * 1024 * 1024, "a"));
    put("last_reserved_ip.0", Buffer.alloc(5000, "1"));
    const r = await read();
    expect(r.findings.map((f) => `${f.kind} ${f.file} ${f.reason.split(":")[0]}`).sort()).toEqual([
      "too-large 10.1.0.11 8388608 bytes",
      "too-large last_reserved_ip.0 5000 bytes",
    ]);
    expect(r.leases).toMatchObject([{ address: "10.1.0.11", containerId: "" }]);
  });

  it("reports binary, empty, malformed and unsafe contents", async () => {
    put("10.1.0.12", Buffer.from([0x63, 0x31, 0x00, 0xff, 0x0d, 0x0a, 0x65]));
    put("10.1.0.13", "");
    put("10.1.0.14", "c1\r\neth0\r\nextra");
    put("10.1.0.15", "../../etc\r\neth0");
    put("10.1.0.16", "c1\r\neth 0");
    put("last_reserved_ip.0", "not an ip");
    const r = await read();
    expect(kinds(r).sort()).toEqual([
      "binary-content 10.1.0.12",
      "empty 10.1.0.13",
      "invalid-container-id 10.1.0.15",
      "malformed 10.1.0.14",
      "malformed 10.1.0.16",
      "malformed last_reserved_ip.0",
    ]);
    expect(r.leases.every((l) => l.containerId === "")).toBe(true);
    expect(r.leases).toHaveLength(5);
  });

  it("reports names that are not addresses (dot-dot names, escapes, unknown files) and reads nothing outside the directory", async () => {
    writeFileSync(join(dataDir, "x"), "sibling\r\neth0");
    for (const name of ["..x", "...", "..%2fx", "10.1.0.1.bak", "last_reserved_ip.a", "new\nline"]) put(name, "c1\r\neth0");
    const r = await read();
    expect(r.leases).toEqual([]);
    expect(kinds(r).sort()).toEqual([
      "not-an-address ..%2fx",
      "not-an-address ...",
      "not-an-address ..x",
      "not-an-address 10.1.0.1.bak",
      "not-an-address last_reserved_ip.a",
      "not-an-address new\\u000aline",
    ]);
    expect(JSON.stringify(r)).not.toContain("sibling");
  });

  it("refuses a network name or data dir that would leave the directory, reading nothing", async () => {
    writeFileSync(join(dataDir, "10.1.0.2"), "c1\r\neth0");
    for (const network of ["../networks", "..", ".", "a/b", "", "-x"]) {
      const r = await read({ network });
      expect(r.leases).toEqual([]);
      expect(r.findings.map((f) => f.kind)).toEqual(["invalid-network-name"]);
    }
    for (const dir of ["relative/dir", `${netDir}/..`, `${dataDir}/./`]) {
      const r = await readHostLocalStore({ dataDir: dir, network: "net1" });
      expect(r.findings.map((f) => f.kind)).toEqual(["data-dir-invalid"]);
    }
  });

  it("reports an address outside every range, and keeps it as a lease (host-local still holds it)", async () => {
    put("10.1.0.5", "c1\r\neth0");
    put("10.2.0.5", "c2\r\neth0");
    put("fd00:9::1", "c3\r\neth0");
    const ranges = normaliseIpamRanges({ ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "fd00:1::/64" }]] }).rangeSets.flat();
    const r = await read({ ranges });
    expect(kinds(r).sort()).toEqual(["outside-ranges 10.2.0.5", "outside-ranges fd00:9::1"]);
    expect(r.leases.map((l) => l.address)).toEqual(["10.1.0.5", "10.2.0.5", "fd00:9::1"]);
  });

  it("bounds findings: past the cap one finding counts the rest", async () => {
    for (let i = 1; i <= 30; i++) put(`junk-${i}`, "x");
    const r = await read({ maxFindings: 10 });
    expect(r.findings).toHaveLength(11);
    expect(r.findings[10]).toMatchObject({ kind: "truncated", reason: "20 more findings not listed (at most 10)" });
  });
});

describe("readHostLocalStore: 100,000 files in one directory", () => {
  it("reads at most maxEntries, counts the rest, and says it truncated", async () => {
    for (let i = 0; i < 100_000; i++) writeFileSync(join(netDir, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`), "c\r\neth0");
    expect(readdirSync(netDir)).toHaveLength(100_000);
    const r = await read({ maxEntries: 1000 });
    expect(r.entries).toBe(100_000);
    expect(r.truncated).toBe(true);
    expect(r.leases).toHaveLength(1000);
    expect(r.findings).toEqual([{ kind: "truncated", file: netDir, reason: "100000 entries: only the first 1000 were read" }]);
    const digest = await digestHostLocalStore({ dataDir, network: "net1", maxEntries: 1000 });
    expect(digest).toEqual({ digest: r.digest, entries: 100_000, exists: true });
  }, 120_000);
});

describe("digestHostLocalStore", () => {
  it("matches the read's digest and changes when a lease comes, goes, or last_reserved_ip is rewritten", async () => {
    put("10.1.0.2", "c1\r\neth0");
    put("last_reserved_ip.0", "10.1.0.2");
    const first = await digestHostLocalStore({ dataDir, network: "net1" });
    expect(first.digest).toBe((await read()).digest);
    expect((await digestHostLocalStore({ dataDir, network: "net1" })).digest).toBe(first.digest);
    put("10.1.0.3", "c2\r\neth0");
    const second = await digestHostLocalStore({ dataDir, network: "net1" });
    expect(second.digest).not.toBe(first.digest);
    put("last_reserved_ip.0", "10.1.0.30");
    const third = await digestHostLocalStore({ dataDir, network: "net1" });
    expect(third.digest).not.toBe(second.digest);
    rmSync(join(netDir, "10.1.0.3"));
    expect((await digestHostLocalStore({ dataDir, network: "net1" })).digest).not.toBe(third.digest);
  });
});
