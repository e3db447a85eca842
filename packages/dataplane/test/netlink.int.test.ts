import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DesiredServices } from "../src/desired";
import { DataplaneError } from "../src/errors";
import { fixtureDesired, fixtureMember } from "../src/fixtures";
import { createApplier } from "../src/netlink";
import { applyOps } from "../src/netlink/apply";
import { NftSocket } from "../src/netlink/socket";
import { applyTransaction, hashListing, listTable, tableHash } from "../src/nft";
import { objectsFromListing } from "../src/listing";
import { type Belief, holdsBelief, planCleanup, planSync } from "../src/transaction";
import { states } from "./states";

// The netlink path against nft itself: the same ops sent as a batch from this process (NS) and as
// text through `nft -f` (NFT_NS) must leave tables that nft lists identically. Real kernel, real
// nft, namespaces this file creates and deletes; no packet is sent.
const suffix = Math.random().toString(36).slice(2, 8);
const NS = `sytest-${suffix}n`;
const NFT_NS = `sytest-${suffix}t`;
const listing = (family: 4 | 6, netns: string) => execFileSync("ip", ["netns", "exec", netns, "nft", "list", "table", family === 4 ? "ip" : "ip6", "switchyard"]).toString();
let socket: NftSocket;

beforeAll(() => {
  for (const ns of [NS, NFT_NS]) execFileSync("ip", ["netns", "add", ns]);
  socket = NftSocket.open({ netns: NS });
});
afterAll(() => {
  socket?.close();
  for (const ns of [NS, NFT_NS]) execFileSync("ip", ["netns", "del", ns]);
});

function manyServices(count: number): DesiredServices {
  const services = Array.from({ length: count }, (_, i) => ({
    id: `svc${i}`,
    name: `s${i}`,
    vip: `10.241.${i >> 8}.${i & 255}`,
    ports: [{ protocol: "tcp" as const, port: 80, targetPort: 8080 }],
    affinity: null,
    members: [fixtureMember(`10.88.${i >> 8}.${i & 255}`, 1, { localCidr: "10.88.0.0/16" }), fixtureMember(`10.89.${i >> 8}.${i & 255}`, 3)],
  }));
  return fixtureDesired(4, { services });
}

function ipv6States(): DesiredServices[] {
  const a = fixtureDesired(6);
  const b = structuredClone(a);
  b.version = 2;
  b.services[0]!.affinity = null;
  b.services[0]!.members[1]!.weight = 700;
  b.services.push({ id: "svcdns6", name: "dns", vip: "fd00:241::11", ports: [{ protocol: "udp", port: 53, targetPort: 5353 }], affinity: null, members: [fixtureMember("fd00:88::21", 1, { localCidr: "fd00:88::/60" }), fixtureMember("fd00:89::22", 2)] });
  const c = structuredClone(b);
  c.version = 3;
  c.services[1]!.members = []; // no endpoints: reject
  return [a, b, c];
}

describe("netlink: the batch this process sends leaves the table nft -f leaves", () => {
  for (const family of [4, 6] as const) {
    for (const layout of ["member-chains", "compact"] as const) {
      it(`IPv${family}, ${layout}: cold, each incremental change and its deferred deletes list exactly as through nft`, async () => {
        let viaNetlink: Belief | null = null;
        let viaNft: Belief | null = null;
        for (const desired of family === 4 ? states() : ipv6States()) {
          const plan = planSync(viaNetlink, desired, { layout });
          await applyOps(socket, plan);
          // the periodic check's comparison: the kernel holds the belief, emptied chains and all
          expect(holdsBelief(objectsFromListing((await listTable(family, { netns: NS }))!, family), plan.belief)).toBe(true);
          const cleanup = planCleanup(plan.belief);
          await applyOps(socket, { family, ops: cleanup.ops });
          viaNetlink = cleanup.belief;
          const text = planSync(viaNft, desired, { layout });
          await applyTransaction(text.transaction, { netns: NFT_NS });
          await applyTransaction(planCleanup(text.belief).transaction, { netns: NFT_NS });
          viaNft = planCleanup(text.belief).belief;
          expect(listing(family, NS), `version ${desired.version}`).toBe(listing(family, NFT_NS));
          expect(await tableHash(family, { netns: NS })).toBe(await tableHash(family, { netns: NFT_NS }));
        }
        // the comparison can fail: the first state, loaded through nft, lists differently
        await applyTransaction(planSync(null, (family === 4 ? states() : ipv6States())[0]!, { layout }).transaction, { netns: NFT_NS });
        expect(listing(family, NS)).not.toBe(listing(family, NFT_NS));
      });
    }
  }

  it("element lists longer than one message's 64 KiB are split: 3,000 services cold, then one changed", async () => {
    const desired = manyServices(3000);
    const cold = planSync(null, desired, { layout: "compact" });
    const run = await applyOps(socket, cold);
    expect(run.messages).toBeGreaterThan(cold.ops.length + 2); // some ops took several messages
    await applyTransaction(cold.transaction, { netns: NFT_NS });
    expect(await tableHash(4, { netns: NS })).toBe(await tableHash(4, { netns: NFT_NS }));
    const next = structuredClone(desired);
    next.version = 2;
    next.services[1500]!.members[1]!.weight = 1;
    const change = planSync(cold.belief, next, { layout: "compact" });
    await applyOps(socket, change);
    await applyTransaction(change.transaction, { netns: NFT_NS });
    expect(await tableHash(4, { netns: NS })).toBe(await tableHash(4, { netns: NFT_NS }));
  });

  it("the periodic check's comparison sees a foreign edit, a missing table and a table where none should be", async () => {
    const plan = planSync(null, fixtureDesired(4), { layout: "compact" });
    await applyOps(socket, plan);
    const held = async () => objectsFromListing((await listTable(4, { netns: NS }))!, 4);
    expect(holdsBelief(await held(), plan.belief)).toBe(true);
    // what packets write (an affinity element) is not an edit
    const affinity = [...plan.sets.keys()].find((n) => n.startsWith("affinity-"))!;
    execFileSync("ip", ["netns", "exec", NS, "nft", "add", "element", "ip", "switchyard", affinity, "{ 10.77.0.5 }"]);
    expect(holdsBelief(await held(), plan.belief)).toBe(true);
    // an element, a rule, a chain added by hand are
    execFileSync("ip", ["netns", "exec", NS, "nft", "add", "element", "ip", "switchyard", "vips", "{ 10.241.0.99 }"]);
    expect(holdsBelief(await held(), plan.belief)).toBe(false);
    await applyOps(socket, plan);
    execFileSync("ip", ["netns", "exec", NS, "nft", "add", "rule", "ip", "switchyard", "reject-chain", "drop"]);
    expect(holdsBelief(await held(), plan.belief)).toBe(false);
    await applyOps(socket, plan);
    execFileSync("ip", ["netns", "exec", NS, "nft", "add", "chain", "ip", "switchyard", "extra"]);
    expect(holdsBelief(await held(), plan.belief)).toBe(false);
    await applyOps(socket, plan);
    expect(holdsBelief(await held(), plan.belief)).toBe(true);
    execFileSync("ip", ["netns", "exec", NS, "nft", "delete", "table", "ip", "switchyard"]);
    expect(holdsBelief(null, plan.belief)).toBe(false);
    const none = planSync(plan.belief, { ...fixtureDesired(4), services: [] });
    expect(holdsBelief(null, none.belief)).toBe(true);
    await applyOps(socket, plan);
    expect(holdsBelief(await held(), none.belief)).toBe(false);
  });

  it("a batch the kernel refuses changes nothing and names the op it refused (HARDENING 24)", async () => {
    const plan = planSync(null, fixtureDesired(4), { layout: "compact" });
    await applyOps(socket, plan);
    const before = await listTable(4, { netns: NS });
    // the first op would work alone; the second names a chain that does not exist
    const ops = [
      { kind: "elements" as const, verb: "add" as const, set: "vips", items: ["10.241.0.99"] },
      { kind: "rule" as const, chain: "no-such-chain", rule: "reject" },
    ];
    const error = await applyOps(socket, { family: 4, ops, sets: plan.sets }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataplaneError);
    expect((error as DataplaneError).code).toBe("netlink-refused");
    expect((error as Error).message).toMatch(/first: add rule ip switchyard no-such-chain reject: No such file or directory/);
    expect(hashListing((await listTable(4, { netns: NS }))!)).toBe(hashListing(before!));
    // and the socket still works
    await applyOps(socket, { family: 4, ops: [ops[0]!], sets: plan.sets });
    expect(listing(4, NS)).toContain("10.241.0.99");
  });

  it("auto: a text the encoder has no shape for goes through nft, in the same namespace", async () => {
    const told: string[] = [];
    const applier = createApplier({ netns: NS, onFallback: (r) => told.push(r) });
    try {
      expect(applier.path).toBe("netlink");
      await applier.apply(planSync(null, fixtureDesired(4), { layout: "compact" }));
      const odd = { family: 4 as const, ops: [{ kind: "rule" as const, chain: "reject-chain", rule: "counter" }], transaction: "add rule ip switchyard reject-chain counter\n" };
      expect(await applier.apply(odd)).toMatchObject({ path: "nft" });
      expect(told.join("\n")).toMatch(/rule "counter" has no netlink encoding here/);
      expect(listing(4, NS)).toMatch(/chain reject-chain \{\n\t\treject\n\t\tcounter packets 0 bytes 0\n/);
    } finally {
      applier.close();
    }
    // told netlink, it does not fall back
    const strict = createApplier({ netns: NS, mode: "netlink" });
    try {
      await expect(strict.apply({ family: 4, ops: [{ kind: "rule", chain: "reject-chain", rule: "counter" }], transaction: "" })).rejects.toThrow(/no netlink encoding/);
    } finally {
      strict.close();
    }
  });

  it("two transactions at once through one applier go one after the other (each reads only its own answers)", async () => {
    const applier = createApplier({ netns: NS, mode: "netlink" });
    try {
      const big = planSync(null, manyServices(2000), { layout: "compact" }); // > 1 MiB: sent from koffi's worker thread
      const small = { family: 4 as const, ops: [{ kind: "elements" as const, verb: "add" as const, set: "vips", items: ["10.241.250.1"] }], sets: big.sets, transaction: "" };
      const results = await Promise.all([applier.apply(big), applier.apply(small)]);
      expect(results.map((r) => r.path)).toEqual(["netlink", "netlink"]);
      const vips = execFileSync("ip", ["netns", "exec", NS, "nft", "list", "set", "ip", "switchyard", "vips"]).toString();
      expect(vips).toContain("10.241.250.1");
      expect(vips).toContain("10.241.7.207"); // the big one's last VIP
    } finally {
      applier.close();
    }
  });

  it("opens its socket in the namespace it is given, not the caller's", async () => {
    const before = execFileSync("nft", ["list", "tables"]).toString();
    const inNs = NftSocket.open({ netns: NFT_NS });
    try {
      await applyOps(inNs, { family: 6, ops: [{ kind: "table", verb: "add", comment: true }] });
    } finally {
      inNs.close();
    }
    expect(execFileSync("ip", ["netns", "exec", NFT_NS, "nft", "list", "tables"]).toString()).toContain("table ip6 switchyard");
    expect(execFileSync("nft", ["list", "tables"]).toString()).toBe(before);
    expect(() => NftSocket.open({ netns: "x; reboot" })).toThrow(/netns "x; reboot" is invalid/);
    expect(() => NftSocket.open({ netns: "sytest-no-such-namespace" })).toThrow(/cannot be opened/);
  });
});
