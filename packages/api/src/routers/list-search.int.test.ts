import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { explainList, setupApiTest, type ApiTest } from "../testing";

/**
 * The lists' search: a case-insensitive substring of the columns each list names, `%` and `_`
 * literal, through trigram indexes (issue 10 item 12). Rows are seeded in SQL: the lists read
 * rows however they were written, and a name with an umlaut or a `%` needs no other path.
 */
let t: ApiTest;
let viewer: Awaited<ReturnType<ApiTest["callerAs"]>>["caller"];

const HOSTS = [
  ["ls-h1", "Ls-Alpha-Höst", "v1.2.3"],
  ["ls-h2", "ls-beta", "v9_9%"],
] as const;
// [id, host, containerId, target]
const ATTACHMENTS = [
  ["ls-a1", "ls-h1", "Ctr_1", "/run/netns/Ünï-ns"],
  ["ls-a2", "ls-h1", "ctr11", "ns-two"],
  ["ls-a3", "ls-h2", "ctr%pct", "ns-three"],
  ["ls-a4", "ls-h2", "plain", "ns-four"],
] as const;

async function seed(userId: string) {
  for (const [id, name, version] of HOSTS) {
    await t.db.$executeRaw`INSERT INTO "Host" (id, name, "credentialHash", "credentialExpiresAt", "agentVersion")
      VALUES (${id}, ${name}, ${`cred-${id}`}, now() + interval '1 day', ${version})`;
  }
  for (const [id, name, subnet, note] of [
    ["ls-n1", "ls-net-one", "10.77.1.0/24", "Grüße"],
    ["ls-n2", "ls-net-two", "10.77.2.0/24", "plain"],
  ]) {
    const conflist = { cniVersion: "1.0.0", name, plugins: [{ type: "bridge", note, ipam: { type: "host-local", subnet } }] };
    await t.db.$executeRaw`INSERT INTO "Network" (id, name, "latestRevision", "updatedAt") VALUES (${id}, ${name}, 1, now())`;
    await t.db.$executeRaw`INSERT INTO "NetworkRevision" (id, "networkId", number, conflist, text, "authorId")
      VALUES (${`${id}-r1`}, ${id}, 1, ${JSON.stringify(conflist)}::jsonb, ${JSON.stringify(conflist, null, 2)}, ${userId})`;
  }
  for (const [id, hostId, containerId, target] of ATTACHMENTS) {
    await t.db.$executeRaw`INSERT INTO "Attachment" (id, "hostId", "networkId", "networkName", "networkRevision", "containerId", "ifName", "targetKind", target, state, "updatedAt")
      VALUES (${id}, ${hostId}, 'ls-n1', 'ls-net-one', 1, ${containerId}, 'eth0', 'netns', ${target}, 'ready', now())`;
  }
  for (const [targetId, targetName, actorName] of [
    ["tid-1", "Zürich-Ünï", "Ålice"],
    ["tid-2", "under_score", "bob"],
    ["tid-3", "fifty%off", "bob"],
  ]) {
    await t.db.$executeRaw`INSERT INTO "AuditEvent" ("actorName", action, "targetType", "targetId", "targetName", outcome)
      VALUES (${actorName}, 'ls.test', 'thing', ${targetId}, ${targetName}, 'success')`;
  }
}

beforeAll(async () => {
  t = await setupApiTest();
  const v = await t.callerAs("viewer", "ls-viewer");
  viewer = v.caller;
  await seed(v.user.id);
});
afterAll(() => t?.close());

const containers = async (q: string) => (await viewer.attachments.list({ q, sort: "containerId", dir: "asc" })).items.map((a) => a.containerId);
const networks = async (q: string) => (await viewer.networks.list({ q })).items.map((n) => n.name).filter((n) => n.startsWith("ls-"));
const hosts = async (q: string) => (await viewer.hosts.list({ q })).items.map((h) => h.name);
const auditTargets = async (q: string, actor?: string) => (await viewer.audit.list({ q, actor, action: "ls." })).items.map((e) => e.targetName).sort();

describe("list search: a case-insensitive substring of the named columns", () => {
  it("attachments: container id, target, interface, network and host name, any case, unicode", async () => {
    expect(await containers("CTR_1")).toEqual(["Ctr_1"]);
    expect(await containers("ünÏ-NS")).toEqual(["Ctr_1"]);
    expect(await containers("Höst")).toEqual(["Ctr_1", "ctr11"]);
    expect(await containers("ALPHA-HÖST")).toEqual(["Ctr_1", "ctr11"]);
    expect(await containers("NET-ONE")).toEqual(["Ctr_1", "ctr%pct", "ctr11", "plain"]);
    expect(await containers("eth0")).toHaveLength(4);
    expect(await containers("no-such-thing")).toEqual([]);
  });

  it("takes % and _ literally, and finds terms of one and two characters", async () => {
    expect(await containers("r_1")).toEqual(["Ctr_1"]);
    expect(await containers("_")).toEqual(["Ctr_1"]);
    expect(await containers("%")).toEqual(["ctr%pct"]);
    expect(await containers("11")).toEqual(["ctr11"]);
    expect(await containers("ü")).toEqual(["Ctr_1"]);
    expect(await containers("\\")).toEqual([]);
    expect(await hosts("9_9%")).toEqual(["ls-beta"]);
    expect(await hosts("9%")).toEqual(["ls-beta"]);
    expect(await hosts("_")).toEqual(["ls-beta"]);
    expect(await auditTargets("_")).toEqual(["under_score"]);
    expect(await auditTargets("%o")).toEqual(["fifty%off"]);
  });

  it("matches within one column only: a term spanning two columns of the indexed text finds nothing", async () => {
    // The trigram index holds "containerId target ifName networkName" joined by spaces.
    expect(await containers("ns-two eth0")).toEqual([]);
    expect(await containers("eth0 ls-net")).toEqual([]);
    expect(await hosts("höst v1")).toEqual([]);
    expect(await auditTargets("Ünï tid-1")).toEqual([]);
  });

  it("networks: the name, and the latest revision's text as written", async () => {
    expect(await networks("LS-NET-ONE")).toEqual(["ls-net-one"]);
    expect(await networks("10.77.2.")).toEqual(["ls-net-two"]);
    expect(await networks("GRÜSSE")).toEqual([]); // ß is one character, not "ss"
    expect(await networks("GRÜ")).toEqual(["ls-net-one"]);
    expect(await networks('"type": "bridge"')).toEqual(["ls-net-one", "ls-net-two"]);
    expect(await networks("%")).toEqual([]);
  });

  it("hosts: the name or the agent version", async () => {
    expect(await hosts("HÖST")).toEqual(["Ls-Alpha-Höst"]);
    expect(await hosts("V1.2")).toEqual(["Ls-Alpha-Höst"]);
    expect(await hosts("ls-")).toEqual(["Ls-Alpha-Höst", "ls-beta"]);
  });

  it("audit: the target's name or actor as substrings, the target id exactly; actor filters by substring", async () => {
    expect(await auditTargets("zürich")).toEqual(["Zürich-Ünï"]);
    expect(await auditTargets("ÅLICE")).toEqual(["Zürich-Ünï"]);
    expect(await auditTargets("tid-1")).toEqual(["Zürich-Ünï"]);
    expect(await auditTargets("tid-")).toEqual([]);
    expect(await auditTargets("o", "BO")).toEqual(["fifty%off", "under_score"]);
  });
});

describe("attachments sorted by host name (host by host, a page at most from each)", () => {
  async function byHost(dir: "asc" | "desc", q?: string): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 20; i++) {
      const page = await viewer.attachments.list({ sort: "hostName", dir, q, limit: 1, cursor });
      ids.push(...page.items.map((a) => a.id));
      if (!page.nextCursor) return ids;
      cursor = page.nextCursor;
    }
    throw new Error("more than 20 pages");
  }

  it("pages by (host name, id) in both directions without gaps or repeats, searched or not", async () => {
    // "Ls-Alpha-Höst" sorts before "ls-beta" (upper case first, as the database compares).
    expect(await byHost("asc")).toEqual(["ls-a1", "ls-a2", "ls-a3", "ls-a4"]);
    expect(await byHost("desc")).toEqual(["ls-a4", "ls-a3", "ls-a2", "ls-a1"]);
    expect(await byHost("asc", "ctr")).toEqual(["ls-a1", "ls-a2", "ls-a3"]);
    expect(await byHost("desc", "ctr")).toEqual(["ls-a3", "ls-a2", "ls-a1"]);
  });
});

describe("list search at scale: the statements use the trigram indexes", () => {
  beforeAll(async () => {
    await t.db.$executeRaw`INSERT INTO "Attachment" ("hostId", "networkId", "networkName", "networkRevision", "containerId", "ifName", "targetKind", target, state, "updatedAt")
      SELECT 'ls-h2', 'ls-n2', 'ls-net-two', 1, 'bulk-' || lpad(i::text, 5, '0'), 'eth1', 'netns', 'bulk-ns-' || i, 'ready', now()
      FROM generate_series(1, 5000) i`;
    await t.db.$executeRaw`INSERT INTO "Network" (id, name, "latestRevision", "updatedAt")
      SELECT 'lsb-' || i, 'bulk-net-' || lpad(i::text, 5, '0'), 1, now() FROM generate_series(1, 3000) i`;
    await t.db.$executeRaw`INSERT INTO "NetworkRevision" (id, "networkId", number, conflist, text)
      SELECT 'lsb-r-' || i, 'lsb-' || i, 1, c, jsonb_pretty(c)
      FROM generate_series(1, 3000) i,
           LATERAL (SELECT jsonb_build_object('cniVersion', '1.0.0', 'name', 'bulk-net-' || lpad(i::text, 5, '0'), 'plugins',
                    jsonb_build_array(jsonb_build_object('type', 'bridge', 'ipam', jsonb_build_object('type', 'host-local', 'subnet', '10.' || (120 + i / 256) || '.' || (i % 256) || '.0/24')))) AS c) AS conf`;
    await t.db.$executeRaw`INSERT INTO "AuditEvent" ("actorName", action, "targetType", "targetId", "targetName", outcome)
      SELECT 'bulk-actor', 'ls.bulk', 'network', 'lsb-' || i, 'bulk-net-' || lpad(i::text, 5, '0'), 'success' FROM generate_series(1, 6000) i`;
    await t.db.$executeRaw`ANALYZE`;
  });

  it.each([
    ["attachments", { q: "bulk-01234" }, "Attachment_search_trgm_idx"],
    ["networks", { q: "10.121.7." }, "NetworkRevision_search_trgm_idx"],
    ["audit", { q: "bulk-net-02345" }, "AuditEvent_search_trgm_idx"],
  ] as const)("%s: a selective term is looked up in the index, with the right rows", async (list, input, index) => {
    expect(await explainList(t.db, list, input, false)).toContain(index);
  });

  it("finds the same rows through the index as the seeded data holds", async () => {
    expect(await containers("BULK-0123")).toEqual(Array.from({ length: 10 }, (_, i) => `bulk-0123${i}`));
    expect(await networks("10.121.7.")).toEqual([]); // ls- networks only
    expect((await viewer.networks.list({ q: "10.121.7." })).items.map((n) => n.name)).toEqual(["bulk-net-00263"]);
    expect((await viewer.audit.list({ q: "BULK-NET-0234" })).items.map((e) => e.targetName).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `bulk-net-0234${i}`));
  });
});
