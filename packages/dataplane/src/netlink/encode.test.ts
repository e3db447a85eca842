import { describe, expect, it } from "vitest";
import { DataplaneError } from "../errors";
import { fixtureDesired, fixtureMember } from "../fixtures";
import { planSync } from "../transaction";
import { encodeBatch } from "./encode";

/** The messages of a batch: type, flags, seq, and their lengths add up to the batch. */
function messages(batch: Buffer): { type: number; flags: number; seq: number; length: number; body: Buffer }[] {
  const out = [];
  let off = 0;
  while (off < batch.length) {
    const length = batch.readUInt32LE(off);
    expect(length % 4, "messages are 4-byte aligned").toBe(0);
    out.push({ length, type: batch.readUInt16LE(off + 4), flags: batch.readUInt16LE(off + 6), seq: batch.readUInt32LE(off + 8), body: batch.subarray(off + 16, off + length) });
    off += length;
  }
  expect(off).toBe(batch.length);
  return out;
}

/** Top-level attributes of a message (after nfgenmsg): type → payload. */
function attributes(body: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 4;
  while (off < body.length) {
    const len = body.readUInt16LE(off);
    out.set(body.readUInt16LE(off + 2) & 0x3fff, body.subarray(off + 4, off + len));
    off += (len + 3) & ~3;
  }
  return out;
}

const cstring = (b: Buffer | undefined) => b?.subarray(0, b.indexOf(0)).toString();

describe("encodeBatch: a transaction's ops as one nfnetlink batch", () => {
  it("frames the ops between begin and end, one sequence number per message, each naming the table", () => {
    const plan = planSync(null, fixtureDesired(4), { layout: "compact" });
    const { batch, opOf } = encodeBatch(4, plan.ops, plan.sets, 100);
    const list = messages(batch);
    expect(list[0]).toMatchObject({ type: 16, seq: 100 }); // NFNL_MSG_BATCH_BEGIN
    expect(list.at(-1)).toMatchObject({ type: 17, seq: 100 + list.length - 1 }); // NFNL_MSG_BATCH_END
    expect(list.map((m) => m.seq)).toEqual(list.map((_, i) => 100 + i));
    expect(list[0]!.body.readUInt16BE(2)).toBe(10); // res_id: NFNL_SUBSYS_NFTABLES
    const inner = list.slice(1, -1);
    expect(inner.every((m) => m.type >> 8 === 10 && m.body[0] === 2)).toBe(true); // nf_tables, NFPROTO_IPV4
    expect(inner.every((m) => cstring(attributes(m.body).get(1)) === "switchyard")).toBe(true);
    // the cold rewrite's first three ops: add table (with its comment), delete table, add table
    expect(inner.slice(0, 3).map((m) => m.type & 0xff)).toEqual([0, 2, 0]);
    expect(attributes(inner[0]!.body).get(6)!.toString()).toContain("switchyard-agent: services; do not edit");
    // every message maps back to its op
    expect([...new Set(opOf.values())]).toEqual(plan.ops.map((_, i) => i));
    expect(opOf.size).toBe(list.length - 2); // an affinity port's anonymous numgen map adds two messages before its rule
    const rules = inner.filter((m) => (m.type & 0xff) === 6);
    expect(rules).toHaveLength(plan.ops.filter((o) => o.kind === "rule").length);
    expect(rules.every((m) => m.flags === (0x1 | 0x400 | 0x800))).toBe(true); // request, create, append: in order
  });

  it("an IPv6 batch says so in every message, and writes 16-byte addresses", () => {
    const plan = planSync(null, fixtureDesired(6), { layout: "compact" });
    const list = messages(encodeBatch(6, plan.ops, plan.sets, 1).batch).slice(1, -1);
    expect(list.every((m) => m.body[0] === 10)).toBe(true); // NFPROTO_IPV6
    const dnat = Buffer.from("fd000089000000000000000000000007", "hex");
    expect(list.some((m) => m.body.includes(dnat))).toBe(true);
  });

  it("an element op too long for one message's 64 KiB list takes several, all mapped to that op", () => {
    const services = Array.from({ length: 1500 }, (_, i) => ({
      id: `svc${i}`,
      name: `s${i}`,
      vip: `10.241.${i >> 8}.${i & 255}`,
      ports: [{ protocol: "tcp" as const, port: 80, targetPort: 8080 }],
      affinity: null,
      members: [fixtureMember(`10.88.${i >> 8}.${i & 255}`, 1)],
    }));
    const plan = planSync(null, fixtureDesired(4, { services }), { layout: "compact" });
    const { batch, opOf } = encodeBatch(4, plan.ops, plan.sets, 1);
    const list = messages(batch);
    expect(list.every((m) => m.length <= 65_535 + 20)).toBe(true);
    const elementOps = plan.ops.map((o, i) => [o, i] as const).filter(([o]) => o.kind === "elements");
    const seqsOfFirst = [...opOf].filter(([, i]) => i === elementOps[0]![1]).map(([s]) => s);
    expect(seqsOfFirst.length).toBeGreaterThan(1);
    expect(list.length).toBe(opOf.size + 2);
  });

  it.each([
    ["a rule shape the renderer never writes", { kind: "rule" as const, chain: "c", rule: "counter" }, /rule "counter" has no netlink encoding/],
    ["a verdict on the wrong family", { kind: "rule" as const, chain: "c", rule: "ip6 saddr fd00::/64 drop" }, /no netlink encoding/],
    ["elements of a set it was not told about", { kind: "elements" as const, verb: "add" as const, set: "nope", items: ["10.0.0.1"] }, /undeclared set/],
    ["a base chain on an unknown hook", { kind: "chain" as const, verb: "add" as const, name: "x", spec: "{ type nat hook ingress priority 0 ; }" }, /chain .* no netlink encoding/],
  ])("refuses %s with netlink-unsupported (the caller then uses nft)", (_what, op, message) => {
    const error = (() => {
      try {
        encodeBatch(4, [op], new Map(), 1);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(DataplaneError);
    expect((error as DataplaneError).code).toBe("netlink-unsupported");
    expect((error as Error).message).toMatch(message);
  });
});
