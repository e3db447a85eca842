import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataplaneError } from "../src/errors";
import { fixtureDesired } from "../src/fixtures";
import { applyTransaction, listTable, runNft, tableHash } from "../src/nft";
import { objectsFromListing } from "../src/listing";
import { lowerTable } from "../src/lower";
import { tracePacket } from "../src/trace";
import { type Belief, beliefTable, planCleanup, planSync } from "../src/transaction";
import { states } from "./states";

// Real nft 1.0.6 in namespaces this file creates and deletes; no packet is sent.
const suffix = Math.random().toString(36).slice(2, 8);
const NS = `sytest-${suffix}`;
const COLD_NS = `sytest-${suffix}c`;
const on = { netns: NS };
const textListing = (family: 4 | 6, netns = NS) => execFileSync("ip", ["netns", "exec", netns, "nft", "list", "table", family === 4 ? "ip" : "ip6", "switchyard"]).toString();

beforeAll(() => {
  for (const ns of [NS, COLD_NS]) execFileSync("ip", ["netns", "add", ns]);
});
afterAll(() => {
  for (const ns of [NS, COLD_NS]) execFileSync("ip", ["netns", "del", ns]);
});

describe("nft: apply, list, hash (real nft in a namespace)", () => {
  it("a cold apply holds the service-ips elements and chains of the render", async () => {
    const plan = planSync(null, fixtureDesired(4));
    await applyTransaction(plan.transaction, on);
    const listing = (await listTable(4, on))!;
    const map = listing.nftables.map((e) => e.map).find((m) => m?.name === "service-ips")!;
    const keys = (map.elem as [{ concat: unknown[] }, unknown][]).map(([k]) => k.concat.join(" ")).sort();
    expect(keys).toEqual(["10.241.0.10 tcp 80", "10.241.0.11 udp 53"]);
    const chains = listing.nftables.flatMap((e) => (e.chain ? [String(e.chain.name)] : []));
    for (const name of beliefTable(plan.belief)!.ports.flatMap((p) => [p.serviceChain, ...p.members.map((m) => m.chain)])) if (name) expect(chains).toContain(name);
    expect(textListing(4)).toContain('10.241.0.12 . tcp . 8080 comment "empty/tcp/8080" : goto reject-chain');
  });

  for (const layout of ["member-chains", "compact"] as const) {
    it(`${layout}: each incremental sync (then its deferred deletes) leaves the same table as a cold apply of that state`, async () => {
      let belief: Belief | null = null;
      for (const desired of states()) {
        const plan = planSync(belief, desired, { layout });
        await applyTransaction(plan.transaction, on);
        if (plan.deferred) await applyTransaction(plan.deferred, on);
        belief = planCleanup(plan.belief).belief;
        await applyTransaction(planSync(null, desired, { layout }).transaction, { netns: COLD_NS });
        expect(await tableHash(4, on), `version ${desired.version}`).toBe(await tableHash(4, { netns: COLD_NS }));
        {
          // what the kernel holds, read back, is what was rendered; the tracer agrees on every port
          const held = objectsFromListing((await listTable(4, on))!, 4);
          const rendered = lowerTable(beliefTable(belief)!);
          expect(held).toEqual(rendered);
          for (const p of beliefTable(belief)!.ports) {
            const packet = { saddr: "10.88.0.50", daddr: p.vip, protocol: p.protocol as "tcp", dport: p.port, from: "sandbox" as const };
            expect(tracePacket(held, packet)).toEqual(tracePacket(rendered, packet));
          }
          // the comparison can fail: the first state's rendering is not what is held now
          if (desired.version > 1) expect(held).not.toEqual(lowerTable(beliefTable(planSync(null, states()[0]!, { layout }).belief)!));
        }
      }
    });
  }

  it("the hash sees a foreign edit", async () => {
    await applyTransaction(planSync(null, fixtureDesired(4)).transaction, on);
    await applyTransaction(planSync(null, fixtureDesired(4)).transaction, { netns: COLD_NS });
    expect(await tableHash(4, on)).toBe(await tableHash(4, { netns: COLD_NS }));
    // what packets write (affinity set elements) is not a difference
    const affinity = beliefTable(planSync(null, fixtureDesired(4)).belief)!.ports[0]!.members[0]!.affinitySet!;
    await applyTransaction(`add element ip switchyard ${affinity} { 10.77.0.5 }\n`, on);
    expect(textListing(4)).toContain("10.77.0.5");
    expect(await tableHash(4, on)).toBe(await tableHash(4, { netns: COLD_NS }));
    // and the hash does see a difference
    await applyTransaction("add element ip switchyard vips { 10.241.0.99 }\n", on);
    expect(await tableHash(4, on)).not.toBe(await tableHash(4, { netns: COLD_NS }));
  });

  for (const layout of ["member-chains", "compact"] as const) {
    it(`IPv6, ${layout}: cold, then an incremental change, equals a cold apply`, async () => {
      const first = planSync(null, fixtureDesired(6), { layout });
      await applyTransaction(first.transaction, on);
      const next = fixtureDesired(6);
      next.services[0]!.affinity = null;
      next.services[0]!.members[1]!.weight = 700;
      const plan = planSync(first.belief, next, { layout });
      await applyTransaction(plan.transaction, on);
      if (plan.deferred) await applyTransaction(plan.deferred, on);
      await applyTransaction(planSync(null, next, { layout }).transaction, { netns: COLD_NS });
      expect(await tableHash(6, on)).toBe(await tableHash(6, { netns: COLD_NS }));
      expect(objectsFromListing((await listTable(6, on))!, 6)).toEqual(lowerTable(beliefTable(plan.belief)!));
      expect(textListing(6)).toContain("dnat to [fd00:89::7]:8080");
    });
  }

  it("a failing transaction changes nothing: the listing stays byte-identical (HARDENING 24)", async () => {
    const plan = planSync(null, fixtureDesired(4));
    await applyTransaction(plan.transaction, on);
    const before = textListing(4);
    const hashBefore = await tableHash(4, on);
    const member = beliefTable(plan.belief)!.ports[0]!.members[0]!.chain;
    // a chain still referenced from a numgen vmap cannot go
    await expect(applyTransaction(`delete chain ip switchyard ${member}\n`, on)).rejects.toThrow(/nft -f - exited 1: .*(busy|Device or resource)/i);
    // the first line would work alone; the second fails, so neither is applied
    const failing = "add element ip switchyard vips { 10.241.0.99 }\ndelete element ip switchyard service-ips { 10.241.0.99 . tcp . 1 }\n";
    const error = await applyTransaction(failing, on).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataplaneError);
    expect((error as DataplaneError).code).toBe("nft-failed");
    expect(textListing(4)).toBe(before);
    expect(await tableHash(4, on)).toBe(hashBefore);
  });

  it("no services: the table is deleted, and listTable says absent", async () => {
    const present = planSync(null, fixtureDesired(4));
    await applyTransaction(present.transaction, on);
    const gone = planSync(present.belief, { ...fixtureDesired(4), services: [] });
    await applyTransaction(gone.transaction, on);
    expect(await listTable(4, on)).toBeNull();
    expect(await tableHash(4, on)).toBeNull();
    // unsure whether it is there: the same outcome, without an error
    await applyTransaction(planSync(null, { ...fixtureDesired(4), services: [] }).transaction, on);
    expect(await listTable(4, on)).toBeNull();
  });

  it("a hung nft is killed with its process group at the timeout", async () => {
    // nft does not hang on demand: a stand-in binary that does (and has a child) is the fault.
    const dir = mkdtempSync(join(tmpdir(), "sytest-nft-"));
    try {
      const script = join(dir, "nft");
      writeFileSync(script, `#!/bin/sh\nsleep 30 &\necho $! > ${dir}/child\nsleep 30\n`, { mode: 0o755 });
      const error = await runNft(["-f", "-"], "", { nftPath: script, timeoutMs: 300 }).catch((e: unknown) => e);
      expect((error as DataplaneError).code).toBe("nft-timeout");
      const child = Number(readFileSync(join(dir, "child"), "utf8"));
      const deadline = Date.now() + 2000;
      const alive = () => {
        try {
          return !readFileSync(`/proc/${child}/stat`, "utf8").split(" ")[2]!.startsWith("Z");
        } catch {
          return false;
        }
      };
      while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(alive()).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a namespace name that is not a plain name", async () => {
    await expect(runNft(["list", "tables"], "", { netns: "x; reboot" })).rejects.toThrow(/netns "x; reboot" is invalid/);
  });
});
