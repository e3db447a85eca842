import { type SetObject, TABLE_COMMENT } from "../lower";
import { TABLE_NAME } from "../names";
import type { Op } from "../ops";
import { ADD, CHAIN, DATA, DATATYPES, ELEM, ELEMS, ELEMENTS_PER_MESSAGE_BYTES, HOOK, HOOKS, LIST_ELEM, MSG, NFPROTO, NFT_DATA_VERDICT, PROTO_NUMBERS, RULE, SET, SET_DESC, SET_FIELD_LEN, SET_F, TABLE } from "./constants";
import type { Context } from "./expressions";
import { writeVerdictData } from "./expressions";
import { NUMGEN_VMAP, anonymousNumgenVmap, compileRule } from "./rules";
import { addressBytes, align4, cidrBounds, commentTlv, u16be, unsupported } from "./values";
import { NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NFNL_SUBSYS_NFTABLES, NFT_MSG, NLM_F, Writer } from "./wire";

/**
 * A transaction's ops (ops.ts) → one nfnetlink batch, the messages `nft -f` would send for the
 * same text (checked in test/netlink.int.test.ts: the kernel's listing of both is equal). Every
 * rule text, set declaration and element the renderer writes has a shape here; any other text
 * throws `netlink-unsupported` and the caller uses nft. Each message's sequence number maps an
 * error back to its op.
 */

export interface EncodedBatch {
  batch: Buffer;
  /** The op each message's sequence number came from (for error messages). */
  opOf: Map<number, number>;
}

/**
 * Encodes `ops` for `family`'s table. `sets` names every set the ops may touch (the table's
 * declarations before and after: an element needs its set's key layout). `firstSeq` comes from
 * the socket; the batch uses one sequence number per message.
 */
export function encodeBatch(family: 4 | 6, ops: readonly Op[], sets: ReadonlyMap<string, SetObject>, firstSeq: number): EncodedBatch {
  const w = new Writer(Math.max(1 << 16, ops.length * 512));
  const ctx: Context = { w, family, nfproto: NFPROTO[family], sets: new Map(sets), nextSetId: 1 };
  let seq = firstSeq;
  const opOf = new Map<number, number>();
  w.end(w.begin(NFNL_MSG_BATCH_BEGIN, NLM_F.REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES));
  ops.forEach((op, index) => {
    const before = seq;
    seq = encodeOp(ctx, op, seq);
    for (let s = before; s < seq; s++) opOf.set(s >>> 0, index);
  });
  w.end(w.begin(NFNL_MSG_BATCH_END, NLM_F.REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES));
  return { batch: w.take(), opOf };
}

function encodeOp(ctx: Context, op: Op, seq: number): number {
  const { w, nfproto } = ctx;
  switch (op.kind) {
    case "table": {
      const m = w.begin(MSG(op.verb === "add" ? NFT_MSG.NEWTABLE : NFT_MSG.DELTABLE), op.verb === "add" ? ADD : NLM_F.REQUEST, seq, nfproto);
      w.str(TABLE.NAME, TABLE_NAME);
      if (op.verb === "add") {
        w.u32(TABLE.FLAGS, 0);
        if (op.comment) w.bytes(TABLE.USERDATA, commentTlv(TABLE_COMMENT));
      }
      w.end(m);
      return seq + 1;
    }
    case "chain": {
      const type = op.verb === "add" ? NFT_MSG.NEWCHAIN : op.verb === "flush" ? NFT_MSG.DELRULE : NFT_MSG.DELCHAIN;
      const m = w.begin(MSG(type), op.verb === "add" ? ADD : NLM_F.REQUEST, seq, nfproto);
      w.str(CHAIN.TABLE, TABLE_NAME);
      w.str(op.verb === "flush" ? RULE.CHAIN : CHAIN.NAME, op.name);
      if (op.verb === "add" && op.spec !== null) {
        const base = /^\{ type (filter|nat) hook (\w+) priority (-?\d+) ; \}$/.exec(op.spec);
        if (!base || HOOKS[base[2]!] === undefined) unsupported("chain", op.spec);
        w.str(CHAIN.TYPE, base[1]!);
        const close = w.nest(CHAIN.HOOK);
        w.u32(HOOK.NUM, HOOKS[base[2]!]!);
        w.u32(HOOK.PRIORITY, Number(base[3]));
        close();
      }
      w.end(m);
      return seq + 1;
    }
    case "set": {
      if (op.verb === "add") ctx.sets.set(op.name, op.set);
      const m = w.begin(MSG(op.verb === "add" ? NFT_MSG.NEWSET : NFT_MSG.DELSET), op.verb === "add" ? ADD : NLM_F.REQUEST, seq, nfproto);
      w.str(SET.TABLE, TABLE_NAME);
      w.str(SET.NAME, op.name);
      if (op.verb === "add") declareSet(ctx, op.set);
      w.end(m);
      return seq + 1;
    }
    case "rule": {
      // An anonymous map goes before its rule, in messages of its own.
      const vmap = NUMGEN_VMAP.exec(op.rule);
      const setId = vmap ? anonymousNumgenVmap(ctx, vmap, seq) : undefined;
      if (vmap) seq += 2;
      const m = w.begin(MSG(NFT_MSG.NEWRULE), ADD | NLM_F.APPEND, seq, nfproto);
      w.str(RULE.TABLE, TABLE_NAME);
      w.str(RULE.CHAIN, op.chain);
      compileRule(ctx, op.rule, setId);
      w.end(m);
      return seq + 1;
    }
    case "elements": {
      const set = ctx.sets.get(op.set);
      if (!set) unsupported("elements of an undeclared set", op.set);
      const layout = setLayout(set, ctx.family);
      // A message's element list is one attribute (16-bit length): a long op takes several messages.
      let message = 0;
      let list = () => {};
      const open = () => {
        message = w.begin(MSG(op.verb === "add" ? NFT_MSG.NEWSETELEM : NFT_MSG.DELSETELEM), op.verb === "add" ? ADD : NLM_F.REQUEST, seq, nfproto);
        w.str(ELEMS.TABLE, TABLE_NAME);
        w.str(ELEMS.SET, op.set);
        list = w.nest(ELEMS.ELEMENTS);
      };
      open();
      for (const item of op.items) {
        if (w.length - message > ELEMENTS_PER_MESSAGE_BYTES) {
          list();
          w.end(message);
          seq++;
          open();
        }
        writeElement(ctx, layout, item, op.verb);
      }
      list();
      w.end(message);
      return seq + 1;
    }
  }
}

// ---- sets -------------------------------------------------------------------------------------

interface SetLayout {
  fields: { id: number; len: number }[];
  keyLen: number;
  interval: boolean;
  map: boolean;
}

const layouts = new Map<string, SetLayout>();

function setLayout(set: SetObject, family: 4 | 6): SetLayout {
  const cached = layouts.get(`${family} ${set.kind} ${set.spec}`);
  if (cached) return cached;
  const m = /^type ([a-z0-9_ .]+?)(?: : (verdict))? ;(?: flags ([a-z,]+) ;)?(?: timeout (\d+)s ;)?$/.exec(set.spec);
  if (!m) unsupported("set", set.spec);
  const fields = m[1]!.split(" . ").map((t) => DATATYPES[t] ?? unsupported("set key type", t));
  const flags = m[3]?.split(",") ?? [];
  if (flags.some((f) => !["interval", "dynamic", "timeout"].includes(f)) || (set.kind === "map") !== (m[2] === "verdict")) unsupported("set", set.spec);
  const layout = { fields, keyLen: fields.reduce((n, f) => n + align4(f.len), 0), interval: flags.includes("interval"), map: set.kind === "map" };
  layouts.set(`${family} ${set.kind} ${set.spec}`, layout);
  return layout;
}

function declareSet(ctx: Context, set: SetObject): void {
  const { w } = ctx;
  const layout = setLayout(set, ctx.family);
  const timeout = /timeout (\d+)s ;$/.exec(set.spec);
  const dynamic = /flags [a-z,]*dynamic/.test(set.spec);
  let flags = 0;
  if (layout.map) flags |= SET_F.MAP;
  if (layout.interval) flags |= SET_F.INTERVAL;
  if (layout.interval && layout.fields.length > 1) flags |= SET_F.CONCAT;
  if (dynamic) flags |= SET_F.EVAL;
  if (timeout) flags |= SET_F.TIMEOUT;
  w.u32(SET.FLAGS, flags);
  w.u32(SET.KEY_TYPE, layout.fields.reduce((t, f) => (t << 6) | f.id, 0));
  w.u32(SET.KEY_LEN, layout.keyLen);
  if (layout.map) {
    w.u32(SET.DATA_TYPE, NFT_DATA_VERDICT);
    w.u32(SET.DATA_LEN, 0);
  }
  w.u32(SET.ID, ctx.nextSetId++);
  if (timeout) w.u64(SET.TIMEOUT, Number(timeout[1]) * 1000);
  if (layout.interval && layout.fields.length > 1) {
    const desc = w.nest(SET.DESC);
    const concat = w.nest(SET_DESC.CONCAT);
    for (const f of layout.fields) {
      const e = w.nest(LIST_ELEM);
      w.u32(SET_FIELD_LEN, f.len);
      e();
    }
    concat();
    desc();
  }
}

/** `10.0.0.1 . tcp . 80 [. 10.88.0.0/16] [comment "web/tcp/80"] [: goto chain]`. */
function writeElement(ctx: Context, layout: SetLayout, text: string, verb: "add" | "delete"): void {
  const { w } = ctx;
  const m = /^(.+?)(?: comment "([^"]*)")?(?: : (goto|jump) (\S+))?$/.exec(text);
  if (!m) unsupported("element", text);
  const parts = m[1]!.split(" . ");
  if (parts.length !== layout.fields.length) unsupported("element", text);
  const key = Buffer.alloc(layout.keyLen);
  const keyEnd = layout.interval ? Buffer.alloc(layout.keyLen) : null;
  let off = 0;
  parts.forEach((part, i) => {
    const f = layout.fields[i]!;
    if (keyEnd !== null && i === parts.length - 1 && part.includes("/")) {
      const [first, last] = cidrBounds(part, ctx.family);
      first.copy(key, off);
      last.copy(keyEnd, off);
    } else {
      const value = fieldBytes(f.id, part);
      value.copy(key, off);
      keyEnd?.set(value, off);
    }
    off += align4(f.len);
  });
  const e = w.nest(LIST_ELEM);
  const k = w.nest(ELEM.KEY);
  w.bytes(DATA.VALUE, key);
  k();
  if (keyEnd !== null) {
    const ke = w.nest(ELEM.KEY_END);
    w.bytes(DATA.VALUE, keyEnd);
    ke();
  }
  if (verb === "add" && layout.map) {
    if (!m[3]) unsupported("map element without a verdict", text);
    writeVerdictData(w, ELEM.DATA, m[3] as "goto" | "jump", m[4]!);
  }
  if (verb === "add" && m[2] !== undefined) w.bytes(ELEM.USERDATA, commentTlv(m[2]));
  e();
}

function fieldBytes(id: number, text: string): Buffer {
  if (id === 7 || id === 8) return addressBytes(text, id === 7 ? 4 : 6);
  if (id === 12) return Buffer.from([PROTO_NUMBERS[text] ?? unsupported("protocol", text)]);
  if (id === 13) return u16be(Number(text));
  return unsupported("field", text);
}
