import type { SetObject } from "../lower";
import { DATA, EXPR, LIST_ELEM, NF_NAT_RANGE_PROTO_RANDOM_FULLY, NF_NAT_RANGE_PROTO_SPECIFIED, PAYLOAD_BASE, REG, VERDICT, VERDICTS } from "./constants";
import { unsupported } from "./values";
import type { Writer } from "./wire";

/** The nf_tables expressions the rule shapes are made of, written into a rule's expression list. */

export interface Context {
  w: Writer;
  family: 4 | 6;
  nfproto: number;
  sets: Map<string, SetObject>;
  /** Anonymous sets of this batch (their ids). */
  nextSetId: number;
}

export function expr(ctx: Context, name: string, body: () => void): void {
  const { w } = ctx;
  const e = w.nest(LIST_ELEM);
  w.str(EXPR.NAME, name);
  const d = w.nest(EXPR.DATA);
  body();
  d();
  e();
}

export function payload(ctx: Context, base: keyof typeof PAYLOAD_BASE, offset: number, len: number, dreg: number): void {
  expr(ctx, "payload", () => {
    ctx.w.u32(1, dreg);
    ctx.w.u32(2, PAYLOAD_BASE[base]);
    ctx.w.u32(3, offset);
    ctx.w.u32(4, len);
  });
}

export function meta(ctx: Context, key: number, dreg: number): void {
  expr(ctx, "meta", () => {
    ctx.w.u32(2, key);
    ctx.w.u32(1, dreg);
  });
}

export function metaSet(ctx: Context, key: number, sreg: number): void {
  expr(ctx, "meta", () => {
    ctx.w.u32(2, key);
    ctx.w.u32(3, sreg);
  });
}

export function ct(ctx: Context, key: number, dreg: number, direction?: number): void {
  expr(ctx, "ct", () => {
    ctx.w.u32(2, key);
    if (direction !== undefined) ctx.w.u8(3, direction);
    ctx.w.u32(1, dreg);
  });
}

export function cmp(ctx: Context, sreg: number, op: number, data: Buffer): void {
  cmpWith(ctx, sreg, op, data.length, (b, o) => data.copy(b, o));
}

export function cmpWith(ctx: Context, sreg: number, op: number, length: number, fill: (buf: Buffer, offset: number) => void): void {
  expr(ctx, "cmp", () => {
    ctx.w.u32(1, sreg);
    ctx.w.u32(2, op);
    const d = ctx.w.nest(3);
    ctx.w.raw(DATA.VALUE, length, fill);
    d();
  });
}

export function bitwise(ctx: Context, reg: number, mask: Buffer, xor: Buffer): void {
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

export function lookup(ctx: Context, set: string, sreg: number, dreg: number | null, setId?: number): void {
  expr(ctx, "lookup", () => {
    ctx.w.str(1, set);
    if (setId !== undefined) ctx.w.u32(4, setId);
    ctx.w.u32(2, sreg);
    if (dreg !== null) ctx.w.u32(3, dreg);
  });
}

export function immediateValue(ctx: Context, dreg: number, value: Buffer): void {
  immediateWith(ctx, dreg, value.length, (b, o) => value.copy(b, o));
}

export function immediateWith(ctx: Context, dreg: number, length: number, fill: (buf: Buffer, offset: number) => void): void {
  expr(ctx, "immediate", () => {
    ctx.w.u32(1, dreg);
    const d = ctx.w.nest(2);
    ctx.w.raw(DATA.VALUE, length, fill);
    d();
  });
}

export function writeVerdictData(w: Writer, type: number, kind: keyof typeof VERDICTS, chain?: string): void {
  const d = w.nest(type);
  const v = w.nest(DATA.VERDICT);
  w.u32(VERDICT.CODE, VERDICTS[kind] >>> 0);
  if (chain !== undefined) w.str(VERDICT.CHAIN, chain);
  v();
  d();
}

export function verdict(ctx: Context, kind: string, chain?: string): void {
  if (!(kind in VERDICTS)) unsupported("verdict", kind);
  expr(ctx, "immediate", () => {
    ctx.w.u32(1, REG.VERDICT);
    writeVerdictData(ctx.w, 2, kind as keyof typeof VERDICTS, chain);
  });
}

export function numgen(ctx: Context, modulus: number, dreg: number): void {
  expr(ctx, "numgen", () => {
    ctx.w.u32(1, dreg);
    ctx.w.u32(2, modulus);
    ctx.w.u32(3, 1); // NFT_NG_RANDOM
    ctx.w.u32(4, 0);
  });
  byteorder(ctx, dreg, 4, 4);
}

/** host → network order (`hton`), as nft puts before comparing or looking up host-order data. */
export function byteorder(ctx: Context, reg: number, len: number, size: number): void {
  expr(ctx, "byteorder", () => {
    ctx.w.u32(1, reg);
    ctx.w.u32(2, reg);
    ctx.w.u32(3, 1); // NFT_BYTEORDER_HTON
    ctx.w.u32(4, len);
    ctx.w.u32(5, size);
  });
}

export function reject(ctx: Context): void {
  expr(ctx, "reject", () => {
    ctx.w.u32(1, 0); // NFT_REJECT_ICMP_UNREACH
    ctx.w.u8(2, ctx.family === 4 ? 3 : 4); // port unreachable (ICMP 3, ICMPv6 4)
  });
}

export function masquerade(ctx: Context): void {
  expr(ctx, "masq", () => ctx.w.u32(1, NF_NAT_RANGE_PROTO_RANDOM_FULLY));
}

export function dnat(ctx: Context): void {
  expr(ctx, "nat", () => {
    ctx.w.u32(1, 1); // NFT_NAT_DNAT
    ctx.w.u32(2, ctx.nfproto);
    ctx.w.u32(3, REG.R1);
    ctx.w.u32(5, REG.R2);
    ctx.w.u32(7, NF_NAT_RANGE_PROTO_SPECIFIED);
  });
}
