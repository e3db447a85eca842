import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import { CanonicalIp, PortNumber } from "@switchyard/dataplane";
import { z } from "zod";
import { NetnsRef, describeFailure, inNetns, runCommand } from "./command";

/**
 * A removed (or `maintenance`) UDP member's flows through one VIP port (design §6): conntrack
 * keeps a UDP flow's DNAT for as long as traffic refreshes it, so without a flush the client
 * keeps talking to the member that is gone. Only UDP: deleting a TCP entry mid-stream lets
 * loose pickup re-DNAT the connection elsewhere.
 */
export const UdpMemberFlows = z
  .object({
    vip: CanonicalIp,
    /** The service port (the original destination port). */
    port: PortNumber,
    /** The member's address and port (the reply's source after DNAT). */
    member: CanonicalIp,
    targetPort: PortNumber,
  })
  .refine((f) => f.vip.includes(":") === f.member.includes(":"), { message: "the VIP and the member must be the same address family", path: ["member"] });
export type UdpMemberFlows = z.infer<typeof UdpMemberFlows>;

export type FlushResult =
  /** The entries are gone; `deleted` is how many there were (0 is success: nothing to flush). */
  | { status: "flushed"; deleted: number }
  /** `conntrack` is not installed: the rules still apply, the flush is reported skipped (design §6). */
  | { status: "skipped"; reason: "conntrack-missing"; message: string };

export interface ConntrackOptions {
  /** A namespace standing in for the host (tests); the host itself when absent. */
  netns?: string;
  /** Where `conntrack` is looked for; PATH and the sbin directories by default. */
  searchPath?: readonly string[];
  timeoutMs?: number;
}

const DEFAULT_SEARCH_PATH = [...(process.env.PATH ?? "").split(":").filter(Boolean), "/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/** The `conntrack` executable, or null when it is not installed (the agent's inventory reports this). */
export function findConntrack(searchPath: readonly string[] = DEFAULT_SEARCH_PATH): string | null {
  for (const dir of searchPath) {
    const file = join(dir, "conntrack");
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

// conntrack-tools prints this on stderr; older versions exit 1 when the count is 0 (kube-proxy treats that as success too).
const DELETED = /(\d+) flow entr(?:y|ies) ha(?:s|ve) been deleted/;

/**
 * Deletes the conntrack entries of UDP flows to `vip:port` that were DNATed to
 * `member:targetPort`: `conntrack -D -p udp --orig-dst VIP --orig-port-dst PORT --reply-src
 * MEMBER --reply-port-src TPORT` (kube-proxy's filter), run after the nft transaction that took
 * the member out has committed. Bad input throws before anything runs; a missing `conntrack`
 * is returned as `skipped`, never thrown.
 */
export async function flushUdpMemberFlows(flows: UdpMemberFlows, options: ConntrackOptions = {}): Promise<FlushResult> {
  const parsed = UdpMemberFlows.safeParse(flows);
  if (!parsed.success) throw new Error(`conntrack flush refused: ${z.prettifyError(parsed.error)}`);
  const netns = options.netns === undefined ? undefined : NetnsRef.parse(options.netns);
  const { vip, port, member, targetPort } = parsed.data;
  const binary = findConntrack(options.searchPath);
  if (binary === null) {
    return { status: "skipped", reason: "conntrack-missing", message: "conntrack is not installed (Debian package `conntrack`): UDP flows of removed members keep their member until they time out" };
  }
  const family = vip.includes(":") ? "ipv6" : "ipv4";
  const args = ["-D", "-f", family, "-p", "udp", "--orig-dst", vip, "--orig-port-dst", String(port), "--reply-src", member, "--reply-port-src", String(targetPort)];
  const [file, argv] = inNetns(netns, binary, args);
  // A delete walks a dump of a table every namespace shares, which can skip entries while others
  // churn it (the probe's dumps did, in CI). No new flow reaches the member once the transaction
  // committed, so a pass that still deletes some is followed by one more, at most FLUSH_PASSES.
  let total = 0;
  for (let pass = 0; pass < FLUSH_PASSES; pass++) {
    const r = await runCommand(file, argv, { timeoutMs: options.timeoutMs ?? 15_000 });
    const deleted = DELETED.exec(r.stderr);
    if (!deleted) throw new Error(describeFailure(file, argv, r));
    total += Number(deleted[1]);
    if (Number(deleted[1]) === 0) break;
  }
  return { status: "flushed", deleted: total };
}

const FLUSH_PASSES = 3;
