import { TABLE_NAME } from "../names";
import { ADD, ANONYMOUS_MAP, CMP, CT_KEY, DATA, ELEM, ELEMS, ELEM_F_INTERVAL_END, IPS_DST_NAT, LIST_ELEM, META_KEY, MSG, NFT_CT_STATE_NEW, NFT_DATA_VERDICT, PROTO_BYTES, REG, RULE, SET, SET_DESC, SET_F, TYPE_INTEGER } from "./constants";
import { type Context, bitwise, byteorder, cmp, cmpWith, ct, dnat, expr, immediateValue, immediateWith, lookup, masquerade, meta, metaSet, numgen, payload, reject, verdict, writeVerdictData } from "./expressions";
import { addrLen, addrOffset, addressBytes, commentTlv, u32be, u32le, unsupported } from "./values";
import { NFT_MSG } from "./wire";

/**
 * The rule texts lower.ts writes, each matched whole and written as the expressions nft would
 * send for it. A text that matches no shape is refused (`netlink-unsupported`).
 */

const IP = "(ip6?)";
const ADDR = "([0-9a-f.:]+)";
const NAME = "([A-Za-z_][A-Za-z0-9_./-]*)";
const COMMENT = '(?: comment "([a-zA-Z0-9 ,./-]*)")?';
export const NUMGEN_VMAP = new RegExp(`^numgen random mod (\\d+) vmap \\{ ((?:\\d+(?:-\\d+)? : goto [A-Za-z_][A-Za-z0-9_./-]*(?:, )?)+) \\}$`);
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
    re: new RegExp(`^${IP} daddr @${NAME} (reject|return)${COMMENT}$`),
    emit: (c, m) => {
      payload(c, "network", addrOffset(c.family, "daddr"), addrLen(c.family), REG.R1);
      lookup(c, m[2]!, REG.R1, null);
      if (m[3] === "reject") reject(c);
      else verdict(c, "return");
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
      payload(c, "network", addrOffset(c.family, "saddr"), addrLen(c.family), REG.R1);
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
      payload(c, "network", addrOffset(c.family, "saddr"), addrLen(c.family), REG.R1);
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
export function compileRule(ctx: Context, text: string, setId: number | undefined): void {
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

/** `ip daddr . meta l4proto . th dport [. ip saddr]` into consecutive 32-bit registers from reg 1. */
function serviceKey(ctx: Context, withSaddr: boolean): void {
  const words = addrLen(ctx.family) / 4;
  payload(ctx, "network", addrOffset(ctx.family, "daddr"), addrLen(ctx.family), REG.R1);
  meta(ctx, META_KEY.l4proto, REG.R32(words));
  // In an interval (pipapo) key, nft turns the host-order protocol byte to network order first.
  if (withSaddr) byteorder(ctx, REG.R32(words), 1, 2);
  payload(ctx, "transport", 2, 2, REG.R32(words + 1));
  if (withSaddr) payload(ctx, "network", addrOffset(ctx.family, "saddr"), addrLen(ctx.family), REG.R32(words + 2));
}

/** `ip saddr 10.88.0.0/16 <verdict>`: byte-aligned prefixes compare their bytes; others mask first. */
function prefixMatch(ctx: Context, m: RegExpExecArray): void {
  const [, , field, address, bits, action, chain] = m;
  const prefix = Number(bits);
  const full = addrLen(ctx.family);
  const network = addressBytes(address!, ctx.family);
  if (prefix <= 0 || prefix > full * 8) unsupported("prefix", `${address}/${bits}`);
  if (prefix % 8 === 0) {
    payload(ctx, "network", addrOffset(ctx.family, field as "saddr" | "daddr"), prefix / 8, REG.R1);
    cmp(ctx, REG.R1, CMP.eq, network.subarray(0, prefix / 8));
  } else {
    payload(ctx, "network", addrOffset(ctx.family, field as "saddr" | "daddr"), full, REG.R1);
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
export function anonymousNumgenVmap(ctx: Context, m: RegExpExecArray, seq: number): number {
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

