/**
 * nfnetlink's wire format for nf_tables (linux/netfilter/nf_tables.h, nfnetlink.h): message and
 * attribute headers in host order (little-endian here), nf_tables' own integers big-endian, every
 * attribute padded to 4 bytes. Pure: builds Buffers, sends nothing.
 */

export const NFNL_SUBSYS_NFTABLES = 10;
export const NFNL_MSG_BATCH_BEGIN = 16;
export const NFNL_MSG_BATCH_END = 17;
export const NETLINK_ERROR = 2;

export const NFT_MSG = {
  NEWTABLE: 0,
  DELTABLE: 2,
  NEWCHAIN: 3,
  DELCHAIN: 5,
  NEWRULE: 6,
  DELRULE: 8,
  NEWSET: 9,
  DELSET: 11,
  NEWSETELEM: 12,
  DELSETELEM: 14,
  GETGEN: 16,
} as const;

export const NLM_F = { REQUEST: 0x1, ACK: 0x4, CREATE: 0x400, APPEND: 0x800 } as const;
const NLA_F_NESTED = 0x8000;

/**
 * A growing buffer of netlink messages. `begin()`/`end()` frame one message; `attr*` write
 * attributes, `nest()` opens a nested one and returns the function that closes it.
 */
export class Writer {
  #buf: Buffer;
  #off = 0;

  constructor(expectedBytes = 1 << 16) {
    this.#buf = Buffer.allocUnsafe(expectedBytes);
  }

  get length(): number {
    return this.#off;
  }

  #room(n: number): void {
    if (this.#off + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#off + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.#buf.copy(next, 0, 0, this.#off);
    this.#buf = next;
  }

  /** Starts a message (nlmsghdr, then nfgenmsg: family, version 0, res_id); returns its start for `end()`. */
  begin(type: number, flags: number, seq: number, family: number, resId = 0): number {
    this.#room(20);
    const start = this.#off;
    const b = this.#buf;
    b.writeUInt32LE(0, start);
    b.writeUInt16LE(type, start + 4);
    b.writeUInt16LE(flags, start + 6);
    b.writeUInt32LE(seq >>> 0, start + 8);
    b.writeUInt32LE(0, start + 12);
    b.writeUInt8(family, start + 16);
    b.writeUInt8(0, start + 17);
    b.writeUInt16BE(resId, start + 18);
    this.#off += 20;
    return start;
  }

  end(start: number): void {
    this.#buf.writeUInt32LE(this.#off - start, start);
  }

  #header(type: number, payload: number): void {
    this.#room(4 + payload + 3);
    this.#buf.writeUInt16LE(4 + payload, this.#off);
    this.#buf.writeUInt16LE(type, this.#off + 2);
    this.#off += 4;
  }

  #pad(): void {
    while (this.#off & 3) this.#buf[this.#off++] = 0;
  }

  u32(type: number, value: number): void {
    this.#header(type, 4);
    this.#buf.writeUInt32BE(value >>> 0, this.#off);
    this.#off += 4;
  }

  u8(type: number, value: number): void {
    this.#header(type, 1);
    this.#buf[this.#off++] = value;
    this.#pad();
  }

  u64(type: number, value: number): void {
    this.#header(type, 8);
    this.#buf.writeBigUInt64BE(BigInt(value), this.#off);
    this.#off += 8;
  }

  /** A NUL-terminated string. */
  str(type: number, value: string): void {
    const n = Buffer.byteLength(value);
    this.#header(type, n + 1);
    this.#buf.write(value, this.#off);
    this.#off += n;
    this.#buf[this.#off++] = 0;
    this.#pad();
  }

  bytes(type: number, value: Uint8Array): void {
    this.#header(type, value.length);
    this.#buf.set(value, this.#off);
    this.#off += value.length;
    this.#pad();
  }

  /** Raw bytes of a value written in place, without a Buffer per value: `fill(buf, offset)`. */
  raw(type: number, length: number, fill: (buf: Buffer, offset: number) => void): void {
    this.#header(type, length);
    fill(this.#buf, this.#off);
    this.#off += length;
    this.#pad();
  }

  nest(type: number): () => void {
    this.#room(4);
    const start = this.#off;
    this.#buf.writeUInt16LE(type | NLA_F_NESTED, start + 2);
    this.#off += 4;
    return () => this.#buf.writeUInt16LE(this.#off - start, start);
  }

  /** A copy of what was written. */
  take(): Buffer {
    return Buffer.from(this.#buf.subarray(0, this.#off));
  }
}
