import { DataplaneError } from "../errors";
import { type NftOptions, applyTransaction } from "../nft";
import { type NetlinkTransaction, applyOps } from "./apply";
import { NftSocket } from "./socket";

/**
 * How a host's transactions reach the kernel (node only: `@switchyard/dataplane/netlink`):
 * `netlink` sends each as one nfnetlink batch from this process (netlink/encode.ts), `nft` pipes
 * its text into `nft -f -`, `auto` takes netlink when koffi loads and nft otherwise. Both are one
 * atomic kernel transaction built from the same ops; a transaction the encoder has no shape for
 * goes through nft.
 */

export const APPLY_MODES = ["auto", "netlink", "nft"] as const;
export type ApplyMode = (typeof APPLY_MODES)[number];

export interface Transaction extends NetlinkTransaction {
  /** The same ops as `nft -f` text (SyncPlan.transaction). */
  readonly transaction: string;
}

export interface AppliedBy {
  path: "netlink" | "nft";
  durationMs: number;
}

export interface Applier {
  /** What transactions go through now. */
  readonly path: "netlink" | "nft";
  apply(t: Transaction): Promise<AppliedBy>;
  close(): void;
}

export interface ApplierOptions extends NftOptions {
  mode?: ApplyMode;
  /** Told once why netlink is not used, and each time a transaction falls back to nft. */
  onFallback?(reason: string): void;
}

export function createApplier(options: ApplierOptions = {}): Applier {
  const mode = options.mode ?? "auto";
  const nft: NftOptions = { netns: options.netns, timeoutMs: options.timeoutMs, nftPath: options.nftPath };
  let socket: NftSocket | null = null;
  let unavailable = mode === "nft";

  const open = (): NftSocket | null => {
    if (socket !== null || unavailable) return socket;
    try {
      socket = NftSocket.open({ netns: options.netns });
    } catch (e) {
      if (mode === "netlink") throw e;
      unavailable = true;
      options.onFallback?.(`netlink unavailable, transactions go through nft: ${(e as Error).message}`);
    }
    return socket;
  };

  // One batch at a time on the socket: a batch's answers are read until its fence, so two in
  // flight (a sync and a deferred delete) would read each other's.
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(run: () => Promise<T>): Promise<T> => {
    const result = queue.then(run, run);
    queue = result.catch(() => undefined);
    return result;
  };

  const viaNft = async (t: Transaction): Promise<AppliedBy> => ({ path: "nft", durationMs: (await applyTransaction(t.transaction, nft)).durationMs });

  return {
    get path() {
      return open() === null ? "nft" : "netlink";
    },
    apply(t) {
      return serially(() => applyOne(t));
    },
    close() {
      socket?.close();
      socket = null;
    },
  };

  async function applyOne(t: Transaction): Promise<AppliedBy> {
    const s = open();
    if (s === null) return viaNft(t);
    try {
      return { path: "netlink", durationMs: (await applyOps(s, t)).durationMs };
    } catch (e) {
      if (e instanceof DataplaneError && e.code === "netlink-unsupported" && mode === "auto") {
        options.onFallback?.(`${e.message}; this transaction went through nft`);
        return viaNft(t);
      }
      // A socket that failed (not a refusal by the kernel) is opened again for the next one.
      if (!(e instanceof DataplaneError && e.code === "netlink-refused")) {
        s.close();
        socket = null;
      }
      throw e;
    }
  }
}

export { applyOps, type NetlinkRun, type NetlinkTransaction } from "./apply";
export { NftSocket } from "./socket";
