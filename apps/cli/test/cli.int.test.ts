import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BRIDGE_CONFLIST, serveApi, setupApiTest, type ApiTest } from "@switchyard/api/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, ensureBuilt } from "./support";

// Issue 13 §2: the built `switchyard` bundle against a real console (serveApi over a real
// database), as a CI job runs it: no terminal, settings from flags, the environment or the config
// file; exit codes 0 done, 1 failed, 2 usage, 3 refused, 4 diff not empty with --exit-code.
let t: ApiTest;
let api: Awaited<ReturnType<typeof serveApi>>;
let opToken: string;
let viewerToken: string;
let home: string;
let env: Record<string, string>;
const tmp: string[] = [];

const net = (name: string, third: number) => BRIDGE_CONFLIST(name, `10.84.${third}.0/24`, `10.84.${third}.1`);
const svc = (name: string, port: number, members: { address: string; weight?: number }[] = []) =>
  `${JSON.stringify({ name, spec: { ports: [{ protocol: "tcp", port, targetPort: 8080 }], manualMembers: members } }, null, 2)}\n`;
const dir = (files: Record<string, string>) => {
  const d = mkdtempSync(join(tmpdir(), "switchyard-cli-test-"));
  tmp.push(d);
  mkdirSync(join(d, "services"), { recursive: true });
  for (const [p, text] of Object.entries(files)) writeFileSync(join(d, p), text);
  return d;
};
const counts = async () => ({ networks: await t.db.network.count(), revisions: await t.db.networkRevision.count(), services: await t.db.service.count(), serviceRevisions: await t.db.serviceRevision.count() });

beforeAll(async () => {
  await ensureBuilt();
  t = await setupApiTest();
  api = await serveApi(t.deps);
  const admin = await t.callerAs("admin", "cli-admin");
  await admin.caller.services.setCidrs({ cidrs: ["10.99.0.0/16"] });
  const operator = await t.callerAs("operator", "cli-op");
  const viewer = await t.callerAs("viewer", "cli-viewer");
  opToken = (await operator.caller.tokens.create({ name: "cli ci", scope: "general", role: "operator" })).token;
  viewerToken = (await viewer.caller.tokens.create({ name: "cli reader", scope: "general", role: "viewer" })).token;
  home = mkdtempSync(join(tmpdir(), "switchyard-cli-home-"));
  tmp.push(home);
  env = { HOME: home, SWITCHYARD_URL: api.url, SWITCHYARD_TOKEN: opToken };
});
afterAll(async () => {
  await api?.close();
  await t?.close();
  for (const d of tmp) rmSync(d, { recursive: true, force: true });
});

describe("usage and sign-in", () => {
  it("prints its version and help (0); unknown commands, flags and missing arguments are usage errors (2)", async () => {
    const version = await cli(["--version"], { env: { HOME: home } });
    expect(version).toMatchObject({ code: 0, stdout: "0.1.0\n" });
    const help = await cli(["apply", "--help"], { env: { HOME: home } });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--prune");
    expect((await cli(["frobnicate"], { env })).code).toBe(2);
    expect((await cli(["networks", "list", "--frob"], { env })).code).toBe(2);
    const missing = await cli(["networks", "get"], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'name'");
    expect((await cli(["apply"], { env })).code).toBe(2); // -f is required
    expect((await cli(["networks", "-o", "yaml"], { env })).code).toBe(2);
    const noUrl = await cli(["networks"], { env: { HOME: home } });
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toContain("no console URL: pass --url, set SWITCHYARD_URL");
  });

  it("takes the token from --token, the environment or the config file; a config file others can read is refused (2)", async () => {
    expect((await cli(["networks", "--url", api.url, "--token", opToken], { env: { HOME: home } })).code).toBe(0);
    expect((await cli(["networks"], { env })).code).toBe(0);
    const cfgHome = mkdtempSync(join(tmpdir(), "switchyard-cli-cfg-"));
    tmp.push(cfgHome);
    const path = join(cfgHome, "switchyard", "config.json");
    mkdirSync(join(cfgHome, "switchyard"));
    writeFileSync(path, JSON.stringify({ url: api.url, token: opToken }), { mode: 0o600 });
    chmodSync(path, 0o600);
    expect((await cli(["networks"], { env: { HOME: home, XDG_CONFIG_HOME: cfgHome } })).code).toBe(0);
    chmodSync(path, 0o644);
    const open = await cli(["networks"], { env: { HOME: home, XDG_CONFIG_HOME: cfgHome } });
    expect(open.code).toBe(2);
    expect(open.stderr).toContain(`the config file ${path} has mode 0644: group or others could read the token in it. Run \`chmod 600 ${path}\``);
    expect(open.stdout).toBe("");
    // flags and environment that give both need no file: the open file is not read
    expect((await cli(["networks"], { env: { ...env, XDG_CONFIG_HOME: cfgHome } })).code).toBe(0);
  });

  it("login reads the token from stdin, checks it with the console and writes the config file 0600; a refused token is not saved (3)", async () => {
    const loginHome = mkdtempSync(join(tmpdir(), "switchyard-cli-login-"));
    tmp.push(loginHome);
    const path = join(loginHome, ".config", "switchyard", "config.json");
    const refused = await cli(["login", "--url", api.url], { env: { HOME: loginHome }, input: "syt_not-a-real-token\n" });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain("not saved: refused by the console: The API token is not valid");
    expect(() => statSync(path)).toThrow();
    const ok = await cli(["login", "--url", `${api.url}/`], { env: { HOME: loginHome }, input: `${viewerToken}\n` });
    expect(ok.code).toBe(0);
    expect(ok.stdout).not.toContain(viewerToken);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ url: api.url, token: viewerToken });
    const listed = await cli(["networks", "-o", "json"], { env: { HOME: loginHome } });
    expect(listed.code).toBe(0);
  });

  it("a token the console does not know, or one that may not do this, is refused (3); an unreachable console fails (1)", async () => {
    const unknown = await cli(["networks"], { env: { ...env, SWITCHYARD_TOKEN: "syt_nope" } });
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain("refused by the console: The API token is not valid");
    const d = dir({ "10-cli-viewer.conflist": net("cli-viewer", 90) });
    const viewer = await cli(["apply", "-f", d, "--yes"], { env: { ...env, SWITCHYARD_TOKEN: viewerToken } });
    expect(viewer.code).toBe(3);
    expect(viewer.stderr).toContain("This needs the operator role; you are viewer");
    expect(await t.db.network.count({ where: { name: "cli-viewer" } })).toBe(0);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as import("node:net").AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const down = await cli(["hosts"], { env: { ...env, SWITCHYARD_URL: `http://127.0.0.1:${port}` } });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`cannot reach the console at http://127.0.0.1:${port}: ECONNREFUSED`);
  });
});

describe("lists, for people and scripts", () => {
  beforeAll(async () => {
    const op = (await t.callerAs("operator", "cli-lister")).caller;
    const a = await op.networks.create({ text: net("cli-list-a", 1), comment: "" });
    await op.networks.create({ text: net("cli-list-b", 2), comment: "" });
    const host = await t.enrollHost("cli-host-1");
    await op.attachments.create({ hostId: host.hostId, networkId: a.id, target: { kind: "netns", name: "cli-ns-1" } });
  });

  it("networks, hosts and attachments as aligned tables and as JSON", async () => {
    const table = await cli(["networks"], { env });
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+REVISION\s+CNI\s+PLUGINS\s+ATTACHMENTS\s+UPDATED\s+BY$/);
    const rowA = lines.find((l) => l.startsWith("cli-list-a "))!;
    expect(rowA).toMatch(/^cli-list-a\s+1\s+1\.0\.0\s+bridge,portmap\s+1\s+\d+s\s+cli-lister$/);
    expect(lines[0]!.indexOf("REVISION")).toBe(rowA.search(/\s1\s/) + 1); // columns line up
    const json = await cli(["networks", "-o", "json", "-q", "cli-list"], { env });
    expect(JSON.parse(json.stdout).map((n: { name: string }) => n.name)).toEqual(["cli-list-a", "cli-list-b"]);
    const get = await cli(["networks", "get", "cli-list-a"], { env });
    expect(get.stdout).toContain(net("cli-list-a", 1));
    const gone = await cli(["networks", "get", "cli-nope"], { env });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('no network named "cli-nope"');
    const hosts = await cli(["hosts", "-o", "json"], { env });
    expect(JSON.parse(hosts.stdout).map((h: { name: string }) => h.name)).toContain("cli-host-1");
    const att = await cli(["attachments", "--network", "cli-list-a"], { env });
    expect(att.code).toBe(0);
    expect(att.stdout).toMatch(/cli-list-a\s+cli-host-1\s+\S+\s+eth0\s+pending/);
    expect((await cli(["attachments", "--state", "ready,bogus"], { env })).code).toBe(2);
  });

  it("ipam show, who-has and leaks answer; JSON for scripts", async () => {
    expect((await cli(["ipam", "show", "cli-list-a"], { env })).stdout).toMatch(/^SUBNET\s+USABLE/);
    const who = await cli(["ipam", "who-has", "10.84.1.7", "-o", "json"], { env });
    expect(who.code).toBe(0);
    expect(JSON.parse(who.stdout)).toEqual([]);
    expect((await cli(["ipam", "who-has", "10.84.1.7"], { env })).stdout).toBe("Nobody holds 10.84.1.7.\n");
    expect((await cli(["ipam", "leaks", "cli-list-a"], { env })).stdout).toBe("No leaked addresses in cli-list-a.\n");
  });
});

describe("ipam release", () => {
  it("shows the dry run; releases a leak only with --yes (2 without a terminal); refuses what is not a leak (1)", async () => {
    const op = (await t.callerAs("operator", "cli-leaker")).caller;
    const { id: networkId } = await op.networks.create({ text: net("cli-leak", 70), comment: "" });
    const host = await t.enrollHost("cli-leak-host");
    // the host's agent reports a lease file no one holds: a crashed runtime's leftover
    await host.agent.reportIpam({
      takenAt: Date.now(),
      networks: [{ networkName: "cli-leak", dataDir: "/var/lib/cni/networks", digest: "0".repeat(64), leaseCount: 1, findings: [], mode: "replace", span: { from: null, to: null }, leases: [{ address: "10.84.70.5", containerId: "crashed", ifName: "eth0", seenIn: 1 }] }],
    });
    const leaks = await cli(["ipam", "leaks", "cli-leak"], { env });
    expect(leaks.stdout).toMatch(/^10\.84\.70\.5\s+cli-leak-host\s+leak\s+crashed\s+eth0/m);
    const dry = await cli(["ipam", "release", "cli-leak", "10.84.70.5", "--host", "cli-leak-host", "--dry-run"], { env });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("10.84.70.5 on cli-leak-host (leak, container crashed eth0)");
    expect(dry.stdout).toMatch(/^ {2}1\. /m);
    expect((await cli(["ipam", "release", "cli-leak", "10.84.70.5", "--host", "cli-leak-host"], { env })).code).toBe(2);
    expect(await op.ipam.releases({ networkId })).toHaveLength(0);
    const notLeak = await cli(["ipam", "release", "cli-leak", "10.84.70.9", "--host", "cli-leak-host", "--yes"], { env });
    expect(notLeak.code).toBe(1);
    expect(notLeak.stderr).toContain("nothing released: 1 of 1 addresses must not be released");
    const done = await cli(["ipam", "release", "cli-leak", "10.84.70.5", "--host", "cli-leak-host", "--yes"], { env });
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/^Release \S+ queued: cli-leak-host's agent carries it out/m);
    expect(await op.ipam.releases({ networkId })).toHaveLength(1);
  });
});

describe("apply, diff and export", () => {
  it("diff shows the plan (4 with --exit-code); apply refuses without a terminal or --yes (2); applies with --yes; then nothing to change (0)", async () => {
    const d = dir({ "10-cli-a.conflist": net("cli-a", 10), "10-cli-b.conflist": net("cli-b", 11), "services/cli-web.json": svc("cli-web", 80, [{ address: "10.84.10.20" }]), "README.md": "# ours\n" });
    const before = await counts();
    const diff = await cli(["diff", "-f", d, "--exit-code"], { env });
    expect(diff.code).toBe(4);
    expect(diff.stdout).toContain("+ network cli-a (10-cli-a.conflist): create");
    expect(diff.stdout).toContain("+ service cli-web (services/cli-web.json): create");
    expect(diff.stdout).toContain("Plan: 3 to create, 0 to update, 0 to delete, 0 unchanged.");
    expect((await cli(["diff", "-f", d], { env })).code).toBe(0);
    const noYes = await cli(["apply", "-f", d], { env });
    expect(noYes.code).toBe(2);
    expect(noYes.stderr).toContain("pass --yes to apply");
    expect(await counts()).toEqual(before);
    const verbose = await cli(["apply", "-f", d, "--dry-run", "-v"], { env });
    expect(verbose.stderr).toContain("README.md");
    const applied = await cli(["apply", "-f", d, "--yes"], { env });
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain("created network cli-a (revision 1)");
    expect(applied.stdout).toContain("created service cli-web (revision 1)");
    expect(applied.stdout).toContain("Applied 3 changes.");
    expect(await t.db.network.count({ where: { name: { in: ["cli-a", "cli-b"] } } })).toBe(2);
    const again = await cli(["apply", "-f", d, "--yes", "--exit-code"], { env });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("Nothing to change");

    // an edit is an update, shown as a diff; a file removed stays on the console unless --prune
    writeFileSync(join(d, "10-cli-a.conflist"), net("cli-a", 12));
    rmSync(join(d, "10-cli-b.conflist"));
    const update = await cli(["apply", "-f", d, "--yes", "--exit-code"], { env });
    expect(update.code).toBe(4);
    expect(update.stdout).toMatch(/^ {4}-\s+"subnet": "10\.84\.10\.0\/24",$/m);
    expect(update.stdout).toMatch(/^ {4}\+\s+"subnet": "10\.84\.12\.0\/24",$/m);
    expect(update.stdout).toContain("updated network cli-a (revision 2)");
    expect(await t.db.network.count({ where: { name: "cli-b" } })).toBe(1);
    // --prune deletes what has no file, and is refused whole while a network to delete is in use
    const inUse = await cli(["apply", "-f", d, "--yes", "--prune"], { env });
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toContain('10-cli-list-a.conflist: --prune would delete network "cli-list-a", which 1 attachment on hosts still use');
    expect(await t.db.network.count({ where: { name: "cli-b" } })).toBe(1);
    // the team's directory holds everything the console has (export), but cli-b
    expect((await cli(["export", d], { env })).code).toBe(0);
    rmSync(join(d, "10-cli-b.conflist"));
    const pruned = await cli(["apply", "-f", d, "--yes", "--prune"], { env });
    expect(pruned.stderr).toBe("");
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toContain("- network cli-b: delete");
    expect(pruned.stdout).toContain("deleted network cli-b");
    expect(await t.db.network.count({ where: { name: "cli-b" } })).toBe(0);
  });

  it("an invalid file: nothing applied, every error with its file and field (1)", async () => {
    const d = dir({
      "20-cli-good.conflist": net("cli-good", 20),
      "30-cli-bad.conflist": '{"cniVersion":"1.0.0","name":"cli-bad","plugins":[{"type":"bridge","ipam":{"type":"host-local","ranges":[[{"subnet":"10.84.300.0/24"}]]}}]}',
      "services/cli-bad-svc.json": JSON.stringify({ name: "cli-bad-svc", spec: { ports: [{ protocol: "tcp", port: 70000, targetPort: 80 }] } }),
      "40-cli-broken.conflist": "{ not json",
    });
    const before = await counts();
    const r = await cli(["apply", "-f", d, "--yes"], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("the files are not valid: nothing was applied");
    expect(r.stderr).toMatch(/^ {2}30-cli-bad\.conflist: plugins\[0\]\.ipam\.ranges\[0\]\[0\]\.subnet: .*10\.84\.300\.0\/24/m);
    expect(r.stderr).toMatch(/^ {2}services\/cli-bad-svc\.json: spec\.ports\[0\]\.port: /m);
    expect(r.stderr).toMatch(/^ {2}40-cli-broken\.conflist: /m);
    expect(await counts()).toEqual(before);
  });

  it("two files defining one network: refused, nothing applied (1)", async () => {
    const d = dir({ "10-cli-twin.conflist": net("cli-twin", 30), "20-cli-twin.conflist": net("cli-twin", 31) });
    const before = await counts();
    const r = await cli(["apply", "-f", d, "--yes"], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/(10|20)-cli-twin\.conflist: .*cli-twin/);
    expect(await counts()).toEqual(before);
  });

  it("a 50 MB file is refused before it is read or sent, named, with nothing applied (1)", async () => {
    const d = dir({ "10-cli-small.conflist": net("cli-small", 40) });
    writeFileSync(join(d, "50-cli-huge.conflist"), "");
    truncateSync(join(d, "50-cli-huge.conflist"), 50 * 1024 * 1024);
    const before = await counts();
    const r = await cli(["apply", "-f", d, "--yes"], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("nothing was sent");
    expect(r.stderr).toContain(`${join(d, "50-cli-huge.conflist")}: 50.0 MiB is over the limit of 1.0 MiB`);
    expect(await counts()).toEqual(before);
  });

  it("export → apply → export round trip, byte for byte; export keeps other files and writes conflists as net.d names them", async () => {
    const first = dir({ "README.md": "kept\n" });
    const r1 = await cli(["export", first], { env });
    expect(r1.code).toBe(0);
    const files = (d: string) => [...readdirSync(d).filter((f) => !f.startsWith(".") && f !== "services" && f !== "README.md").map((f) => f), ...readdirSync(join(d, "services")).map((f) => `services/${f}`)].sort();
    expect(files(first)).toContain("10-cli-a.conflist");
    expect(files(first)).toContain("services/cli-web.json");
    expect(readFileSync(join(first, "README.md"), "utf8")).toBe("kept\n");
    expect(readFileSync(join(first, "10-cli-a.conflist"), "utf8")).toBe(net("cli-a", 12)); // what was applied, as applied
    const applied = await cli(["apply", "-f", first, "--yes", "--exit-code"], { env });
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain("Nothing to change");
    const json = await cli(["diff", "-f", first, "-o", "json"], { env });
    const plan = JSON.parse(json.stdout) as { ok: boolean; changes: { action: string }[] };
    expect(plan.ok).toBe(true);
    expect(plan.changes.length).toBe(files(first).length);
    expect(plan.changes.every((c) => c.action === "unchanged")).toBe(true);
    const second = dir({});
    expect((await cli(["export", second], { env })).code).toBe(0);
    expect(files(second)).toEqual(files(first));
    for (const f of files(first)) expect(readFileSync(join(second, f)).equals(readFileSync(join(first, f)))).toBe(true);
    // exporting again over the same directory writes nothing
    const again = await cli(["export", first], { env });
    expect(again.stdout).toContain("0 written");
  });
});

describe("services: set weight and drain", () => {
  it("changes one member's weight and state as a new revision, visible in services.get", async () => {
    const d = dir({ "services/cli-pool.json": svc("cli-pool", 81, [{ address: "10.84.50.1" }, { address: "10.84.50.2" }]) });
    expect((await cli(["apply", "-f", d, "--yes"], { env })).code).toBe(0);
    const id = (await t.db.service.findUniqueOrThrow({ where: { name: "cli-pool" } })).id;
    const viewer = (await t.callerAs("viewer")).caller;
    const weight = await cli(["services", "set-weight", "cli-pool", "10.84.50.2", "25"], { env });
    expect(weight).toMatchObject({ code: 0, stdout: "cli-pool: member 10.84.50.2: weight 100 → 25 (revision 2)\n" });
    const drain = await cli(["services", "drain", "cli-pool", "10.84.50.1"], { env });
    expect(drain.code).toBe(0);
    const got = await viewer.services.get({ id });
    expect(got.revision).toBe(3);
    expect(got.spec.manualMembers.map((m) => [m.address, m.weight, m.state])).toEqual([
      ["10.84.50.1", 100, "draining"],
      ["10.84.50.2", 25, "active"],
    ]);
    expect((await cli(["services", "drain", "cli-pool", "10.84.50.1", "--undo"], { env })).code).toBe(0);
    expect((await viewer.services.get({ id })).spec.manualMembers[0]!.state).toBe("active");
    const table = await cli(["services", "get", "cli-pool"], { env });
    expect(table.stdout).toMatch(/10\.84\.50\.2\s+-\s+manual\s+25\s+active/);
    const none = await cli(["services", "set-weight", "cli-pool", "10.84.50.9", "5"], { env });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("no member 10.84.50.9 in this service; its members:");
    expect((await cli(["services", "set-weight", "cli-pool", "10.84.50.2", "5000"], { env })).code).toBe(2);
    expect((await viewer.services.get({ id })).revision).toBe(4);
  });
});

describe("rate limits", () => {
  it("a 429 is waited out (Retry-After) and the call sent again", async () => {
    const { createTrpcHttpHandler } = await import("@switchyard/api/http");
    // its own deps object: its own token buckets, 1 call per second with no burst
    const deps = { ...t.deps };
    const handler = createTrpcHttpHandler(async () => deps, { tokenRate: { perSecond: 1, burst: 1 } });
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
        const body = req.method === "POST" ? Buffer.concat(chunks) : undefined;
        void handler(new Request(`http://${req.headers.host}${req.url}`, { method: req.method, headers, body })).then(async (r) => {
          res.writeHead(r.status, Object.fromEntries(r.headers));
          res.end(Buffer.from(await r.arrayBuffer()));
        });
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const op = (await t.callerAs("operator", "cli-rater")).caller;
    const network = await op.networks.create({ text: net("cli-rate", 60), comment: "" });
    await op.attachments.create({ hostId: (await t.enrollHost("cli-rate-host")).hostId, networkId: network.id, target: { kind: "netns", name: "cli-ns-rate" } });
    try {
      const url = `http://127.0.0.1:${(server.address() as import("node:net").AddressInfo).port}`;
      // networks.list to find the network, then attachments.list: the second waits for the bucket
      const r = await cli(["attachments", "--network", "cli-rate", "-o", "json"], { env: { ...env, SWITCHYARD_URL: url } });
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/rate limited by the console \(API token "cli ci" is over its rate limit.*\); retrying in 1 s \(1 of 3\)/);
      expect(JSON.parse(r.stdout)).toHaveLength(1);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
