import { parseCidr, parseIp } from "@switchyard/ipam";
import { DataplaneError } from "../errors";
import { type SetObject, TABLE_COMMENT } from "../lower";
import { TABLE_NAME } from "../names";
import type { Op } from "../ops";
import { NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NFNL_SUBSYS_NFTABLES, NFT_MSG, NLM_F, Writer } from "./wire";

/**
 * A transaction's ops (ops.ts) → one nfnetlink batch, the messages `nft -f` would send for the
 * same text (checked in test/netlink.int.test.ts: the kernel's listing of both is equal). Every
 * rule text, set declaration and element the renderer writes has a shape here; any other text
 * throws `netlink-unsupported` and the caller uses nft. Each message's sequence number maps an
 * error back to its op.
 */

const NFPROTO = { 4: 2, 6: 10 } as const;
const MSG = (m: number) => (NFNL_SUBSYS_NFTABLES << 8) | m;
const ADD = NLM_F.REQUEST | NLM_F.CREATE;

// Attribute numbers (linux/netfilter/nf_tables.h).
const TABLE = { NAME: 1, FLAGS: 2, USERDATA: 6 };
const CHAIN = { TABLE: 1, NAME: 3, HOOK: 4, TYPE: 7 };
const HOOK = { NUM: 1, PRIORITY: 2 };
const RULE = { TABLE: 1, CHAIN: 2, EXPRESSIONS: 4, USERDATA: 7 };
const SET = { TABLE: 1, NAME: 2, FLAGS: 3, KEY_TYPE: 4, KEY_LEN: 5, DATA_TYPE: 6, DATA_LEN: 7, DESC: 9, ID: 10, TIMEOUT: 11, USERDATA: 13 };
const SET_DESC = { SIZE: 1, CONCAT: 2 };
const SET_FIELD_LEN = 1;
const ELEMS = { TABLE: 1, SET: 2, ELEMENTS: 3, SET_ID: 4 };
const ELEM = { KEY: 1, DATA: 2, FLAGS: 3, USERDATA: 6, KEY_END: 10 };
const LIST_ELEM = 1;
const EXPR = { NAME: 1, DATA: 2 };
const DATA = { VALUE: 1, VERDICT: 2 };
const VERDICT = { CODE: 1, CHAIN: 2 };

const SET_F = { ANONYMOUS: 0x1, CONSTANT: 0x2, INTERVAL: 0x4, MAP: 0x8, TIMEOUT: 0x10, EVAL: 0x20, CONCAT: 0x80 };
const ELEM_F_INTERVAL_END = 1;
const NFT_DATA_VERDICT = 0xffffff00;

const VERDICTS = { drop: 0, accept: 1, continue: -1, jump: -3, goto: -4, return: -5 } as const;
const REG = { VERDICT: 0, R1: 1, R2: 2, R32: (i: number) => 8 + i } as const;
const PAYLOAD_BASE = { network: 1, transport: 2 };
const META_KEY = { mark: 3, l4proto: 16 };
const CT_KEY = { state: 0, status: 2, dst_ip: 20, dst_ip6: 22 };
const CMP = { eq: 0, neq: 1, lt: 2 };
const HOOKS: Record<string, number> = { prerouting: 0, input: 1, forward: 2, output: 3, postrouting: 4 };
const PROTO_NUMBERS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };
const PROTO_BYTES: Record<string, Buffer> = Object.fromEntries(Object.entries(PROTO_NUMBERS).map(([p, n]) => [p, Buffer.from([n])]));
/** nft's datatype ids, 6 bits each in a concatenation's key type. */
const DATATYPES: Record<string, { id: number; len: number }> = {
  ipv4_addr: { id: 7, len: 4 },
  ipv6_addr: { id: 8, len: 16 },
  inet_proto: { id: 12, len: 1 },
  inet_service: { id: 13, len: 2 },
};
const TYPE_INTEGER = 4;
/** Below the 64 KiB an attribute can hold, with room for the largest element. */
const ELEMENTS_PER_MESSAGE_BYTES = 60_000;
const NFT_CT_STATE_NEW = 8;
/** The kernel names an anonymous set (`%d`); the batch refers to it by id. */
const ANONYMOUS_MAP = "__map%d";
const IPS_DST_NAT = 0x20;
const NF_NAT_RANGE_PROTO_SPECIFIED = 2;
const NF_NAT_RANGE_PROTO_RANDOM_FULLY = 0x10;

export interface EncodedBatch {
  batch: Buffer;
  /** The op each message's sequence number came from (for error messages). */
  opOf: Map<number, number>;
}

interface Context {
  w: Writer;
  family: 4 | 6;
  nfproto: number;
  sets: Map<string, SetObject>;
  /** Anonymous sets of this batch (their ids). */
  nextSetId: number;
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

// ---- rules ------------------------------------------------------------------------------------

const IP = "(ip6?)";
const ADDR = "([0-9a-f.:]+)";
const NAME = "([A-Za-z_][A-Za-z0-9_./-]*)";
const COMMENT = '(?: comment "([a-zA-Z0-9 ,./-]*)")?';
const NUMGEN_VMAP = new RegExp(`^numgen random mod (\\d+) vmap \\{ ((?:\\d+(?:-\\d+)? : goto [A-Za-z_][A-Za-z0-9_./-]*(?:, )?)+) \\}$`);
const RULES: { re: RegExp; emit: (ctx: Context, m: RegExpExecArray, setId: number | undefined) => void }[] = [
  // A service's member: most of a table's rules, so tried first.
  {
    re: new RegExp(`^meta l4proto (tcp|udp|sctp) (?:numgen random mod (\\d+) < (\\d+) )?dnat to (?:\\[([0-9a-f:]+)\\]|([0-9.]+)):(\\d+)$`),
    emit: (c, m) => {
      meta(c, META_KEY.l4proto, REG.R1);
      cmp(c, REG.R1, CMP.eq, PROTO_BYTES[m[1]!]!);
      if (m[2] !== undefined) {
        numgen(c, Number(m[2]), REG.R1);
        const below = Number(m[3]);
        cmpWith(c, REG.R1, CMP.lt, 4, (b, o) => b.writeUInt32BE(below, o));
      }
      const address = m[4] ?? m[5]!;
      if ((m[4] !== undefined) !== (c.family === 6)) unsupported("rule", m[0]);
      immediateValue(c, REG.R1, addressBytes(address, c.family));
      const port = Number(m[6]);
      immediateWith(c, REG.R2, 2, (b, o) => b.writeUInt16BE(port, o));
      dnat(c);
    },
  },
  { re: new RegExp(`^(jump|goto) ${NAME}$`), emit: (c, m) => verdict(c, m[1]!, m[2]) },
  { re: /^(return|drop|accept)$/, emit: (c, m) => verdict(c, m[1]!) },
  {
    re: new RegExp(`^ct state new (jump|goto) ${NAME}$`),
    emit: (c, m) => {
      ct(c, CT_KEY.state, REG.R1);
      bitwise(c, REG.R1, u32le(NFT_CT_STATE_NEW), u32le(0));
      cmp(c, REG.R1, CMP.neq, u32le(0));
      verdict(c, m[1]!, m[2]);
    },
  },
  {
    re: new RegExp(`^${IP} daddr \\. meta l4proto \\. th dport vmap @${NAME}$`),
    emit: (c, m) => {
      serviceKey(c, false);
      lookup(c, m[2]!, REG.R1, REG.VERDICT);
    },
  },
  {
    re: new RegExp(`^${IP} daddr @${NAME} reject${COMMENT}$`),
    emit: (c, m) => {
      payload(c, "network", addrOffset(c, "daddr"), addrLen(c), REG.R1);
      lookup(c, m[2]!, REG.R1, null);
      reject(c);
    },
  },
  { re: new RegExp(`^${IP} (saddr|daddr) ${ADDR}/(\\d+) (drop|accept|return|(?:jump|goto) ${NAME})${COMMENT}$`), emit: (c, m) => prefixMatch(c, m) },
  { re: /^reject$/, emit: (c) => reject(c) },
  {
    re: /^mark set mark (or|xor) 0x([0-9a-f]{8})$/,
    emit: (c, m) => {
      const bit = Number.parseInt(m[2]!, 16);
      meta(c, META_KEY.mark, REG.R1);
      bitwise(c, REG.R1, u32le(m[1] === "or" ? ~bit >>> 0 : 0xffffffff), u32le(bit));
      metaSet(c, META_KEY.mark, REG.R1);
    },
  },
  {
    re: /^mark and 0x([0-9a-f]{8}) == 0 return$/,
    emit: (c, m) => {
      meta(c, META_KEY.mark, REG.R1);
      bitwise(c, REG.R1, u32le(Number.parseInt(m[1]!, 16)), u32le(0));
      cmp(c, REG.R1, CMP.eq, u32le(0));
      verdict(c, "return");
    },
  },
  {
    re: new RegExp(`^ct status dnat ct original ${IP} daddr @${NAME} ${IP} daddr \\. meta l4proto \\. th dport( \\. ${IP} saddr)? @${NAME} masquerade fully-random$`),
    emit: (c, m) => {
      ct(c, CT_KEY.status, REG.R1);
      bitwise(c, REG.R1, u32le(IPS_DST_NAT), u32le(0));
      cmp(c, REG.R1, CMP.neq, u32le(0));
      ct(c, c.family === 4 ? CT_KEY.dst_ip : CT_KEY.dst_ip6, REG.R1, 0);
      lookup(c, m[2]!, REG.R1, null);
      serviceKey(c, m[4] !== undefined);
      lookup(c, m[6]!, REG.R1, null);
      masquerade(c);
    },
  },
  { re: /^masquerade fully-random$/, emit: (c) => masquerade(c) },
  {
    re: new RegExp(`^update @${NAME} \\{ ${IP} saddr \\}$`),
    emit: (c, m) => {
      payload(c, "network", addrOffset(c, "saddr"), addrLen(c), REG.R1);
      expr(c, "dynset", () => {
        c.w.str(1, m[1]!); // NFTA_DYNSET_SET_NAME
        c.w.u32(3, 1); // NFTA_DYNSET_OP: update
        c.w.u32(4, REG.R1); // NFTA_DYNSET_SREG_KEY
      });
    },
  },
  {
    re: new RegExp(`^${IP} saddr @${NAME} (jump|goto) ${NAME}$`),
    emit: (c, m) => {
      payload(c, "network", addrOffset(c, "saddr"), addrLen(c), REG.R1);
      lookup(c, m[2]!, REG.R1, null);
      verdict(c, m[3]!, m[4]);
    },
  },
  {
    re: NUMGEN_VMAP,
    emit: (c, m, setId) => {
      numgen(c, Number(m[1]), REG.R1);
      lookup(c, ANONYMOUS_MAP, REG.R1, REG.VERDICT, setId);
    },
  },
];

/** Writes the rule's expressions and its comment. */
function compileRule(ctx: Context, text: string, setId: number | undefined): void {
  for (const { re, emit } of RULES) {
    const m = re.exec(text);
    if (!m) continue;
    if (m[1] === "ip6" && ctx.family === 4) unsupported("rule", text);
    if (m[1] === "ip" && ctx.family === 6) unsupported("rule", text);
    const close = ctx.w.nest(RULE.EXPRESSIONS);
    emit(ctx, m, setId);
    close();
    const comment = /comment "([^"]*)"$/.exec(text);
    if (comment) ctx.w.bytes(RULE.USERDATA, commentTlv(comment[1]!));
    return;
  }
  unsupported("rule", text);
}

function expr(ctx: Context, name: string, body: () => void): void {
  const { w } = ctx;
  const e = w.nest(LIST_ELEM);
  w.str(EXPR.NAME, name);
  const d = w.nest(EXPR.DATA);
  body();
  d();
  e();
}

function payload(ctx: Context, base: keyof typeof PAYLOAD_BASE, offset: number, len: number, dreg: number): void {
  expr(ctx, "payload", () => {
    ctx.w.u32(1, dreg);
    ctx.w.u32(2, PAYLOAD_BASE[base]);
    ctx.w.u32(3, offset);
    ctx.w.u32(4, len);
  });
}

function meta(ctx: Context, key: number, dreg: number): void {
  expr(ctx, "meta", () => {
    ctx.w.u32(2, key);
    ctx.w.u32(1, dreg);
  });
}

function metaSet(ctx: Context, key: number, sreg: number): void {
  expr(ctx, "meta", () => {
    ctx.w.u32(2, key);
    ctx.w.u32(3, sreg);
  });
}

function ct(ctx: Context, key: number, dreg: number, direction?: number): void {
  expr(ctx, "ct", () => {
    ctx.w.u32(2, key);
    if (direction !== undefined) ctx.w.u8(3, direction);
    ctx.w.u32(1, dreg);
  });
}

function cmp(ctx: Context, sreg: number, op: number, data: Buffer): void {
  cmpWith(ctx, sreg, op, data.length, (b, o) => data.copy(b, o));
}

function cmpWith(ctx: Context, sreg: number, op: number, length: number, fill: (buf: Buffer, offset: number) => void): void {
  expr(ctx, "cmp", () => {
    ctx.w.u32(1, sreg);
    ctx.w.u32(2, op);
    const d = ctx.w.nest(3);
    ctx.w.raw(DATA.VALUE, length, fill);
    d();
  });
}

function bitwise(ctx: Context, reg: number, mask: Buffer, xor: Buffer): void {
  expr(ctx, "bitwise", () => {
    ctx.w.u32(1, reg);
    ctx.w.u32(2, reg);
    ctx.w.u32(3, mask.length);
    const m = ctx.w.nest(4);
    ctx.w.bytes(DATA.VALUE, mask);
    m();
    const x = ctx.w.nest(5);
    ctx.w.bytes(DATA.VALUE, xor);
    x();
  });
}

function lookup(ctx: Context, set: string, sreg: number, dreg: number | null, setId?: number): void {
  expr(ctx, "lookup", () => {
    ctx.w.str(1, set);
    if (setId !== undefined) ctx.w.u32(4, setId);
    ctx.w.u32(2, sreg);
    if (dreg !== null) ctx.w.u32(3, dreg);
  });
}

function immediateValue(ctx: Context, dreg: number, value: Buffer): void {
  immediateWith(ctx, dreg, value.length, (b, o) => value.copy(b, o));
}

function immediateWith(ctx: Context, dreg: number, length: number, fill: (buf: Buffer, offset: number) => void): void {
  expr(ctx, "immediate", () => {
    ctx.w.u32(1, dreg);
    const d = ctx.w.nest(2);
    ctx.w.raw(DATA.VALUE, length, fill);
    d();
  });
}

function writeVerdictData(w: Writer, type: number, kind: keyof typeof VERDICTS, chain?: string): void {
  const d = w.nest(type);
  const v = w.nest(DATA.VERDICT);
  w.u32(VERDICT.CODE, VERDICTS[kind] >>> 0);
  if (chain !== undefined) w.str(VERDICT.CHAIN, chain);
  v();
  d();
}

function verdict(ctx: Context, kind: string, chain?: string): void {
  if (!(kind in VERDICTS)) unsupported("verdict", kind);
  expr(ctx, "immediate", () => {
    ctx.w.u32(1, REG.VERDICT);
    writeVerdictData(ctx.w, 2, kind as keyof typeof VERDICTS, chain);
  });
}

function numgen(ctx: Context, modulus: number, dreg: number): void {
  expr(ctx, "numgen", () => {
    ctx.w.u32(1, dreg);
    ctx.w.u32(2, modulus);
    ctx.w.u32(3, 1); // NFT_NG_RANDOM
    ctx.w.u32(4, 0);
  });
  byteorder(ctx, dreg, 4, 4);
}

/** host → network order (`hton`), as nft puts before comparing or looking up host-order data. */
function byteorder(ctx: Context, reg: number, len: number, size: number): void {
  expr(ctx, "byteorder", () => {
    ctx.w.u32(1, reg);
    ctx.w.u32(2, reg);
    ctx.w.u32(3, 1); // NFT_BYTEORDER_HTON
    ctx.w.u32(4, len);
    ctx.w.u32(5, size);
  });
}

function reject(ctx: Context): void {
  expr(ctx, "reject", () => {
    ctx.w.u32(1, 0); // NFT_REJECT_ICMP_UNREACH
    ctx.w.u8(2, ctx.family === 4 ? 3 : 4); // port unreachable (ICMP 3, ICMPv6 4)
  });
}

function masquerade(ctx: Context): void {
  expr(ctx, "masq", () => ctx.w.u32(1, NF_NAT_RANGE_PROTO_RANDOM_FULLY));
}

function dnat(ctx: Context): void {
  expr(ctx, "nat", () => {
    ctx.w.u32(1, 1); // NFT_NAT_DNAT
    ctx.w.u32(2, ctx.nfproto);
    ctx.w.u32(3, REG.R1);
    ctx.w.u32(5, REG.R2);
    ctx.w.u32(7, NF_NAT_RANGE_PROTO_SPECIFIED);
  });
}

/** `ip daddr . meta l4proto . th dport [. ip saddr]` into consecutive 32-bit registers from reg 1. */
function serviceKey(ctx: Context, withSaddr: boolean): void {
  const words = addrLen(ctx) / 4;
  payload(ctx, "network", addrOffset(ctx, "daddr"), addrLen(ctx), REG.R1);
  meta(ctx, META_KEY.l4proto, REG.R32(words));
  // In an interval (pipapo) key, nft turns the host-order protocol byte to network order first.
  if (withSaddr) byteorder(ctx, REG.R32(words), 1, 2);
  payload(ctx, "transport", 2, 2, REG.R32(words + 1));
  if (withSaddr) payload(ctx, "network", addrOffset(ctx, "saddr"), addrLen(ctx), REG.R32(words + 2));
}

/** `ip saddr 10.88.0.0/16 <verdict>`: byte-aligned prefixes compare their bytes; others mask first. */
function prefixMatch(ctx: Context, m: RegExpExecArray): void {
  const [, , field, address, bits, action, chain] = m;
  const prefix = Number(bits);
  const full = addrLen(ctx);
  const network = addressBytes(address!, ctx.family);
  if (prefix <= 0 || prefix > full * 8) unsupported("prefix", `${address}/${bits}`);
  if (prefix % 8 === 0) {
    payload(ctx, "network", addrOffset(ctx, field as "saddr" | "daddr"), prefix / 8, REG.R1);
    cmp(ctx, REG.R1, CMP.eq, network.subarray(0, prefix / 8));
  } else {
    payload(ctx, "network", addrOffset(ctx, field as "saddr" | "daddr"), full, REG.R1);
    const mask = Buffer.alloc(full);
    for (let i = 0; i < prefix; i++) mask[i >> 3]! |= 0x80 >> (i & 7);
    bitwise(ctx, REG.R1, mask, Buffer.alloc(full));
    cmp(ctx, REG.R1, CMP.eq, network);
  }
  const [kind] = action!.split(" ");
  verdict(ctx, kind!, chain);
}

/**
 * `numgen random mod M vmap { 0-99 : goto a, 100-299 : goto b }`: an anonymous constant interval
 * map, sent before its rule (NEWSET and NEWSETELEM, each with its own sequence number), named by the
 * kernel (`__map%d`) and referred to by its id in the batch.
 */
function anonymousNumgenVmap(ctx: Context, m: RegExpExecArray, seq: number): number {
  const { w, nfproto } = ctx;
  const modulus = Number(m[1]);
  const branches = m[2]!.split(", ").map((b) => {
    const [range, target] = b.split(" : goto ");
    const [first, last] = range!.split("-").map(Number);
    return { first: first!, last: last ?? first!, target: target! };
  });
  const id = ctx.nextSetId++;
  const s = w.begin(MSG(NFT_MSG.NEWSET), ADD, seq, nfproto);
  w.str(SET.TABLE, TABLE_NAME);
  w.str(SET.NAME, ANONYMOUS_MAP);
  w.u32(SET.FLAGS, SET_F.ANONYMOUS | SET_F.CONSTANT | SET_F.INTERVAL | SET_F.MAP);
  w.u32(SET.KEY_TYPE, TYPE_INTEGER);
  w.u32(SET.KEY_LEN, 4);
  w.u32(SET.DATA_TYPE, NFT_DATA_VERDICT);
  w.u32(SET.DATA_LEN, 0);
  w.u32(SET.ID, id);
  const desc = w.nest(SET.DESC);
  w.u32(SET_DESC.SIZE, branches.length * 2);
  desc();
  w.end(s);
  const e = w.begin(MSG(NFT_MSG.NEWSETELEM), ADD, seq + 1, nfproto);
  w.str(ELEMS.TABLE, TABLE_NAME);
  w.str(ELEMS.SET, ANONYMOUS_MAP);
  w.u32(ELEMS.SET_ID, id);
  const list = w.nest(ELEMS.ELEMENTS);
  const element = (key: number, target: string | null) => {
    const el = w.nest(LIST_ELEM);
    const k = w.nest(ELEM.KEY);
    w.bytes(DATA.VALUE, u32be(key));
    k();
    if (target === null) w.u32(ELEM.FLAGS, ELEM_F_INTERVAL_END);
    else writeVerdictData(w, ELEM.DATA, "goto", target);
    el();
  };
  for (const b of branches) element(b.first, b.target);
  element(modulus, null);
  list();
  w.end(e);
  return id;
}

// ---- values -----------------------------------------------------------------------------------

const comments = new Map<string, Buffer>();

function commentTlv(text: string): Buffer {
  const known = comments.get(text);
  if (known) return known;
  const bytes = Buffer.from(`${text}\0`);
  if (bytes.length > 255) unsupported("comment", text);
  const tlv = Buffer.concat([Buffer.from([0, bytes.length]), bytes]);
  if (comments.size < 1000) comments.set(text, tlv);
  return tlv;
}

function addrLen(ctx: Context): number {
  return ctx.family === 4 ? 4 : 16;
}

function addrOffset(ctx: Context, field: "saddr" | "daddr"): number {
  return ctx.family === 4 ? (field === "saddr" ? 12 : 16) : field === "saddr" ? 8 : 24;
}

function addressBytes(text: string, family: 4 | 6): Buffer {
  if (family === 4) {
    const q = DOTTED_QUAD.exec(text);
    if (q && q.slice(1).every((o) => Number(o) <= 255)) return Buffer.from(q.slice(1).map(Number));
  }
  const parsed = parseIp(text);
  if (!parsed.ok || parsed.value.family !== family) return unsupported("address", text);
  const len = family === 4 ? 4 : 16;
  const out = Buffer.alloc(len);
  let v = parsed.value.value;
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function cidrBounds(text: string, family: 4 | 6): [Buffer, Buffer] {
  const parsed = parseCidr(text);
  if (!parsed.ok || parsed.value.family !== family) return unsupported("CIDR", text);
  const [address, bits] = text.split("/");
  const first = addressBytes(address!, family);
  const last = Buffer.from(first);
  const prefix = Number(bits);
  for (let i = prefix; i < last.length * 8; i++) last[i >> 3]! |= 0x80 >> (i & 7);
  return [first, last];
}

function u32le(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

function u32be(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

function u16be(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

function unsupported(what: string, text: string): never {
  throw new DataplaneError("netlink-unsupported", `${what} ${JSON.stringify(text)} has no netlink encoding here: use nft`);
}
