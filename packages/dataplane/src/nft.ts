import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { DataplaneError } from "./errors";
import { familyWord } from "./lower";
import { TABLE_NAME } from "./names";

/**
 * Runs `nft` (node only: `@switchyard/dataplane/nft`). A transaction goes on stdin of `nft -f -`,
 * so it is one atomic commit (HARDENING 24); a hung `nft` is killed with its process group at the
 * timeout (HARDENING 20). Tests and benchmarks pass `netns` to run inside `ip netns exec <ns>`.
 */

export interface NftOptions {
  /** A named network namespace (`ip netns exec <netns> nft …`); the host's when absent. */
  netns?: string;
  timeoutMs?: number;
  /** The nft binary; `nft` on PATH by default. */
  nftPath?: string;
}

export interface NftRun {
  stdout: string;
  stderr: string;
  durationMs: number;
}

const NETNS = /^[A-Za-z0-9_.-]{1,64}$/;
export const DEFAULT_NFT_TIMEOUT_MS = 10_000;

/** Runs nft with `args` and `input` on stdin; throws a DataplaneError on a non-zero exit or the timeout. */
export function runNft(args: string[], input: string, options: NftOptions = {}): Promise<NftRun> {
  const nft = options.nftPath ?? "nft";
  if (options.netns !== undefined && !NETNS.test(options.netns)) return Promise.reject(new DataplaneError("unsafe-text", `netns ${JSON.stringify(options.netns)} is invalid: must match ${NETNS}`));
  const [command, argv] = options.netns === undefined ? [nft, args] : ["ip", ["netns", "exec", options.netns, nft, ...args]];
  const timeoutMs = options.timeoutMs ?? DEFAULT_NFT_TIMEOUT_MS;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { detached: true, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.stdin.on("error", () => {}); // nft may exit before reading everything; its exit code says why
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new DataplaneError("nft-failed", `${command} could not be started: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString();
      const stderr = Buffer.concat(err).toString();
      const durationMs = performance.now() - started;
      if (timedOut) return reject(new DataplaneError("nft-timeout", `nft ${args.join(" ")} did not finish within ${timeoutMs} ms: killed with its process group`));
      if (code !== 0) return reject(new DataplaneError("nft-failed", `nft ${args.join(" ")} exited ${code ?? signal}: ${stderr.trim().split("\n").slice(0, 6).join(" | ")}`));
      resolve({ stdout, stderr, durationMs });
    });
    child.stdin.end(input);
  });
}

/** Applies one transaction atomically (`nft -f -`); "" is a no-op. */
export async function applyTransaction(transaction: string, options: NftOptions = {}): Promise<NftRun> {
  if (transaction === "") return { stdout: "", stderr: "", durationMs: 0 };
  return runNft(["-f", "-"], transaction, options);
}

/** `nft -j list table <family> switchyard`, parsed; null when the table is absent. */
export async function listTable(family: 4 | 6, options: NftOptions = {}): Promise<NftListing | null> {
  try {
    const { stdout } = await runNft(["-j", "list", "table", familyWord(family), TABLE_NAME], "", options);
    return JSON.parse(stdout) as NftListing;
  } catch (e) {
    if (e instanceof DataplaneError && e.code === "nft-failed" && /No such file or directory/.test(e.message)) return null;
    throw e;
  }
}

/** The shape of `nft -j` output this module reads (json_schema_version 1). */
export interface NftListing {
  nftables: Record<string, Record<string, unknown>>[];
}

/**
 * The listing in a canonical form (design §9 "periodic check"): chains with their rules' JSON minus
 * handles, sets and maps with their elements, except the affinity sets' elements (packets write
 * those). Equal tables give equal forms whatever order nft printed them in.
 */
export function canonicalTable(listing: NftListing): unknown {
  const chains = new Map<string, { chain: unknown; rules: unknown[] }>();
  const sets: { name: string; set: unknown }[] = [];
  for (const entry of listing.nftables) {
    const [kind, body] = Object.entries(entry)[0] ?? [];
    if (body === undefined) continue;
    if (kind === "chain") chains.set(String(body.name), { chain: withoutKeys(body, ["handle"]), rules: chains.get(String(body.name))?.rules ?? [] });
    else if (kind === "rule") {
      const name = String(body.chain);
      if (!chains.has(name)) chains.set(name, { chain: null, rules: [] });
      chains.get(name)!.rules.push(withoutKeys(body, ["handle"]));
    } else if (kind === "set" || kind === "map") {
      const name = String(body.name);
      const affinity = name.startsWith("affinity-");
      const elem = affinity ? undefined : ((body.elem as unknown[] | undefined) ?? []).map((e) => JSON.stringify(e)).sort();
      sets.push({ name, set: { kind, ...withoutKeys(body, ["handle", "elem"]), ...(elem === undefined ? {} : { elem }) } });
    }
  }
  const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return {
    chains: [...chains].map(([name, c]) => ({ name, ...c })).sort(byName),
    sets: sets.sort(byName),
  };
}

/** sha256 of the canonical form, or null when the table is absent. */
export async function tableHash(family: 4 | 6, options: NftOptions = {}): Promise<string | null> {
  const listing = await listTable(family, options);
  return listing === null ? null : hashListing(listing);
}

export function hashListing(listing: NftListing): string {
  return createHash("sha256").update(JSON.stringify(canonicalTable(listing))).digest("hex");
}

function withoutKeys(body: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([k]) => !keys.includes(k)));
}
