import { z } from "zod";
import { Id } from "../schemas";
import { IpAddressText, IpamLease, IpamNetworkSnapshot } from "./ipam";

/**
 * The release of leaked addresses on one host (issue 11 item 4), as the console hands it to the
 * agent and as the agent says what it did. The agent re-validates what it claims with these very
 * schemas, and judges each address again on its host before it touches anything: the console's
 * verdict is where it starts, not what it trusts.
 */
export const RELEASE_LIMITS = { addresses: 256 } as const;

export const ReleaseItem = z.object({
  address: IpAddressText,
  /** The holder the console judged leaked: the lease file must still name it, or nothing is done. */
  containerId: IpamLease.shape.containerId.refine((v) => v !== "", "a release needs the holder's container id"),
  ifName: IpamLease.shape.ifName,
});
export type ReleaseItem = z.infer<typeof ReleaseItem>;

export const ClaimedRelease = z.object({
  releaseId: Id,
  networkName: IpamNetworkSnapshot.shape.networkName,
  items: z.array(ReleaseItem).min(1).max(RELEASE_LIMITS.addresses),
  requestedByName: z.string().max(200),
});
export type ClaimedRelease = z.infer<typeof ClaimedRelease>;

/**
 * The steps, in the order the agent tries them; it stops at the first after which the address is
 * free: `check` (the agent's own look at the lease file, the cache and the namespace), CNI DEL with
 * the cached config, CNI DEL with the config it knows (no cache entry), CNI GC with the valid set,
 * and host-local's lease file removed under its lock.
 */
export const RELEASE_STEP_KINDS = ["check", "cni-del-cached", "cni-del-known", "cni-gc", "remove-lease-file"] as const;
export const ReleaseStepKind = z.enum(RELEASE_STEP_KINDS);
export type ReleaseStepKind = z.infer<typeof ReleaseStepKind>;

export const ReleaseStepOutcome = z.object({
  kind: ReleaseStepKind,
  /** done: it ran and succeeded; skipped: it does not apply here (said why); failed: it ran and failed; refused: the check found a reason to stop. */
  outcome: z.enum(["done", "skipped", "failed", "refused"]),
  message: z.string().max(2000),
});
export type ReleaseStepOutcome = z.infer<typeof ReleaseStepOutcome>;

export const ReleasedAddress = z.object({
  address: IpAddressText,
  /** Whether the leaked holder holds the address no more (no lease file, or one naming someone else: left alone). */
  freed: z.boolean(),
  steps: z.array(ReleaseStepOutcome).max(10),
});
export type ReleasedAddress = z.infer<typeof ReleasedAddress>;

export const CompleteReleaseInput = z.object({
  releaseId: Id,
  addresses: z.array(ReleasedAddress).max(RELEASE_LIMITS.addresses),
});
export type CompleteReleaseInput = z.infer<typeof CompleteReleaseInput>;
