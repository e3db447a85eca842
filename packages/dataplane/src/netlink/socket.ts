import { closeSync, openSync } from "node:fs";
import { createRequire } from "node:module";
import { DataplaneError } from "../errors";
import { NETLINK_ERROR, NFNL_SUBSYS_NFTABLES, NFT_MSG, NLM_F, Writer } from "./wire";

/**
 * A NETLINK_NETFILTER socket, opened through koffi (a maintained FFI with prebuilt binaries for
 * every Linux architecture: no compiler on the host). Node has no AF_NETLINK of its own; nft does
 * what this does, with its own parser in front (bench/README.md: its parse of a 10,000-service
 * table is 3 s of the 5). node only: `@switchyard/dataplane/netlink`.
 *
 * One batch is one `send()`: nfnetlink runs it, commits or aborts it, and queues every error
 * before `send()` returns, so a GETGEN sent after it is answered after the batch's errors.
 */

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_NETFILTER = 12;
const SOL_SOCKET = 1;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
const SO_RCVTIMEO = 20;
const RECEIVE_TIMEOUT_S = 30;
const MSG_DONTWAIT = 0x40;
const ASYNC_SEND_BYTES = 1 << 20;
const CLONE_NEWNET = 0x40000000;

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Int32Array, len: number): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  /** `send` on koffi's worker thread: the kernel runs a batch inside send, which may take seconds. */
  sendAsync(fd: number, buf: Buffer, len: number, flags: number): Promise<number>;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  close(fd: number): number;
  setns(fd: number, nstype: number): number;
  errno(): number;
  strerror(errnum: number): string;
}

let libc: Libc | null | undefined;

/** libc through koffi, or null when koffi cannot be loaded (a bundle without node_modules). */
export function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    const require = createRequire(import.meta.url);
    const koffi = require("koffi") as typeof import("koffi");
    const lib = koffi.load("libc.so.6");
    const send = lib.func("long send(int, const void *, size_t, int)");
    libc = {
      socket: lib.func("int socket(int, int, int)"),
      setsockopt: lib.func("int setsockopt(int, int, int, const int32_t *, uint32_t)"),
      send,
      sendAsync: (fd: number, buf: Buffer, len: number, flags: number) =>
        new Promise<number>((resolve, reject) => send.async(fd, buf, len, flags, (err: unknown, n: number) => (err ? reject(err as Error) : resolve(n)))),
      recv: lib.func("long recv(int, _Out_ void *, size_t, int)"),
      close: lib.func("int close(int)"),
      setns: lib.func("int setns(int, int)"),
      errno: () => koffi.errno(),
      strerror: lib.func("const char *strerror(int)"),
    } as Libc;
  } catch {
    libc = null;
  }
  return libc;
}

export interface NetlinkOptions {
  /** A named network namespace (/run/netns/<name>); the agent's own when absent. */
  netns?: string;
  /** Socket buffers (SO_*BUFFORCE, root): one batch must fit in one send. */
  bufferBytes?: number;
}

const NETNS = /^[A-Za-z0-9_.-]{1,64}$/;

export class NftSocket {
  readonly #c: Libc;
  readonly #fd: number;
  #seq = Math.floor(Date.now() / 1000) >>> 0;
  readonly #recv = Buffer.alloc(1 << 20);

  private constructor(c: Libc, fd: number) {
    this.#c = c;
    this.#fd = fd;
  }

  /** Opens the socket (in `netns` when given); throws `netlink-unavailable` without koffi. */
  static open(options: NetlinkOptions = {}): NftSocket {
    const c = loadLibc();
    if (c === null) throw new DataplaneError("netlink-unavailable", "koffi could not be loaded: netlink is unavailable, use nft");
    if (options.netns !== undefined && !NETNS.test(options.netns)) throw new DataplaneError("unsafe-text", `netns ${JSON.stringify(options.netns)} is invalid: must match ${NETNS}`);
    const fd = options.netns === undefined ? c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER) : inNetns(c, options.netns, () => c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER));
    if (fd < 0) throw failure(c, "socket(AF_NETLINK, NETLINK_NETFILTER)");
    const size = new Int32Array([options.bufferBytes ?? 256 << 20]);
    if (c.setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, size, 4) !== 0 || c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, size, 4) !== 0) {
      const e = failure(c, "setsockopt(SO_SNDBUFFORCE/SO_RCVBUFFORCE) (root only)");
      c.close(fd);
      throw e;
    }
    // A receive that waits longer than this is a kernel that did not answer: fail, do not hang.
    const timeout = new Int32Array([RECEIVE_TIMEOUT_S, 0, 0, 0]);
    if (c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, 16) !== 0) {
      const e = failure(c, "setsockopt(SO_RCVTIMEO)");
      c.close(fd);
      throw e;
    }
    return new NftSocket(c, fd);
  }

  /** Sequence numbers for a batch of `count` messages (the batch's begin and end included). */
  reserve(count: number): number {
    const first = this.#seq;
    this.#seq = (this.#seq + count + 1) >>> 0;
    return first;
  }

  /**
   * Sends one batch and returns the errors the kernel reported for it (seq → errno), empty when
   * it committed. A GETGEN with an ack follows the batch: its answer marks the end of the batch's.
   */
  async commit(batch: Buffer): Promise<Map<number, number>> {
    const c = this.#c;
    const fenceSeq = this.reserve(1);
    const fence = getGen(fenceSeq);
    // The batch is the whole of its send: nfnetlink reads nothing after its end message. A small
    // batch is sent on this thread (a worker hop costs more than the kernel's work).
    const sent = batch.length < ASYNC_SEND_BYTES ? c.send(this.#fd, batch, batch.length, 0) : await c.sendAsync(this.#fd, batch, batch.length, 0);
    if (sent !== batch.length) throw failure(c, `send of a ${batch.length}-byte batch`);
    if (c.send(this.#fd, fence, fence.length, 0) !== fence.length) throw failure(c, "send of GETGEN");
    const errors = new Map<number, number>();
    for (;;) {
      const n = c.recv(this.#fd, this.#recv, this.#recv.length, 0);
      if (n < 0) throw failure(c, "recv (the kernel did not answer within the receive timeout)");
      let off = 0;
      while (off + 16 <= n) {
        const len = this.#recv.readUInt32LE(off);
        const type = this.#recv.readUInt16LE(off + 4);
        const seq = this.#recv.readUInt32LE(off + 8);
        if (len < 16) break;
        if (type === NETLINK_ERROR) {
          const errno = -this.#recv.readInt32LE(off + 16);
          if (seq === fenceSeq) return errors;
          if (errno !== 0) errors.set(seq, errno);
        }
        off += (len + 3) & ~3;
      }
    }
  }

  /** Drops anything left in the receive queue (after an exception). */
  drain(): void {
    while (this.#c.recv(this.#fd, this.#recv, this.#recv.length, MSG_DONTWAIT) > 0);
  }

  strerror(errno: number): string {
    return this.#c.strerror(errno);
  }

  close(): void {
    this.#c.close(this.#fd);
  }
}

function getGen(seq: number): Buffer {
  const w = new Writer(20);
  w.end(w.begin((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG.GETGEN, NLM_F.REQUEST | NLM_F.ACK, seq, 0));
  return w.take();
}

/** Runs `fn` with this thread in the namespace, then moves back (the socket stays there). */
function inNetns(c: Libc, netns: string, fn: () => number): number {
  const own = openSync("/proc/thread-self/ns/net", "r");
  let target: number;
  try {
    target = openSync(`/run/netns/${netns}`, "r");
  } catch (e) {
    closeSync(own);
    throw new DataplaneError("netlink-failed", `network namespace ${netns} cannot be opened: ${(e as Error).message}`);
  }
  try {
    if (c.setns(target, CLONE_NEWNET) !== 0) throw failure(c, `setns(${netns})`);
    try {
      return fn();
    } finally {
      if (c.setns(own, CLONE_NEWNET) !== 0) throw failure(c, "setns back to the agent's namespace");
    }
  } finally {
    closeSync(target);
    closeSync(own);
  }
}

function failure(c: Libc, what: string): DataplaneError {
  const errno = c.errno();
  return new DataplaneError("netlink-failed", `${what} failed: ${c.strerror(errno)} (errno ${errno})`);
}
