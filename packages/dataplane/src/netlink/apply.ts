import { DataplaneError } from "../errors";
import type { SetObject } from "../lower";
import { type Op, opsText } from "../ops";
import { encodeBatch } from "./encode";
import type { NftSocket } from "./socket";

export interface NetlinkTransaction {
  family: 4 | 6;
  ops: readonly Op[];
  /** The sets the ops may name (SyncPlan.sets). */
  sets?: ReadonlyMap<string, SetObject>;
}

export interface NetlinkRun {
  durationMs: number;
  messages: number;
  bytes: number;
}

/**
 * Sends `transaction` as one nfnetlink batch: atomic like `nft -f` (the kernel commits all of it
 * or none). A refusal names the first op the kernel refused and why, as nft would.
 */
export async function applyOps(socket: NftSocket, transaction: NetlinkTransaction): Promise<NetlinkRun> {
  const started = performance.now();
  if (transaction.ops.length === 0) return { durationMs: 0, messages: 0, bytes: 0 };
  const seq = socket.reserve(transaction.ops.length * 3 + 2 + transaction.ops.reduce((n, op) => n + (op.kind === "elements" ? op.items.length : 0), 0));
  const { batch, opOf } = encodeBatch(transaction.family, transaction.ops, transaction.sets ?? new Map(), seq);
  let errors: Map<number, number>;
  try {
    errors = await socket.commit(batch);
  } catch (e) {
    socket.drain();
    throw e;
  }
  if (errors.size > 0) {
    const [first] = [...errors].sort(([a], [b]) => a - b);
    const [failedSeq, errno] = first!;
    const index = opOf.get(failedSeq);
    const what = index === undefined ? "the batch" : opsText(transaction.family, [transaction.ops[index]!]).trim().slice(0, 300);
    throw new DataplaneError("netlink-refused", `the kernel refused the transaction (${errors.size} error${errors.size === 1 ? "" : "s"}); first: ${what}: ${socket.strerror(errno)}`);
  }
  return { durationMs: performance.now() - started, messages: opOf.size + 2, bytes: batch.length };
}
