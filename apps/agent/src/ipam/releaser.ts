import { ClaimedRelease, type CompleteReleaseInput, type ReleasedAddress } from "@switchyard/api/schemas/ipamRelease";
import type { Logger } from "../log";

export interface IpamReleaserDeps {
  console: {
    claimReleases(): Promise<{ releases: unknown[] }>;
    completeRelease(input: CompleteReleaseInput): Promise<unknown>;
  };
  carryOut(release: ClaimedRelease): Promise<ReleasedAddress[]>;
  /** Addresses were freed (or tried): the lease report should say so soon. */
  onCarriedOut(): void;
  log: Logger;
}

/**
 * Releases of leaked addresses, one at a time: claimed when the console pushes "release", from the
 * claim safety net, and at start. A wake while one runs claims again after it, so nothing queued
 * meanwhile waits for the safety net.
 */
export function createIpamReleaser(deps: IpamReleaserDeps) {
  let running: Promise<void> | null = null;
  let again = false;

  async function drain(): Promise<void> {
    do {
      again = false;
      const { releases } = await deps.console.claimReleases();
      for (const raw of releases) {
        // The agent trusts nothing it did not check itself: the console's schema, again, here.
        const parsed = ClaimedRelease.safeParse(raw);
        if (!parsed.success) {
          const releaseId = typeof (raw as { releaseId?: unknown })?.releaseId === "string" ? (raw as { releaseId: string }).releaseId : "";
          deps.log.warn("IPAM release refused: the console's request is not valid", { releaseId, error: parsed.error.issues[0]?.message ?? "" });
          if (releaseId) await deps.console.completeRelease({ releaseId, addresses: [] }).catch(() => {});
          continue;
        }
        const release = parsed.data;
        deps.log.info("IPAM release", { releaseId: release.releaseId, network: release.networkName, addresses: release.items.map((i) => i.address).join(","), requestedBy: release.requestedByName });
        const addresses = await deps.carryOut(release);
        for (const a of addresses) deps.log.info("IPAM release of an address", { releaseId: release.releaseId, address: a.address, freed: a.freed, steps: a.steps.map((s) => `${s.kind}:${s.outcome}`).join(" ") });
        await deps.console.completeRelease({ releaseId: release.releaseId, addresses });
      }
      if (releases.length > 0) deps.onCarriedOut();
    } while (again);
  }

  return {
    /** Claim and carry out what is queued (now, or right after the release in progress). */
    wake(): void {
      if (running) {
        again = true;
        return;
      }
      running = drain()
        .catch((error: unknown) => deps.log.warn("IPAM releases: claim or report failed (claimed ones are handed out again later)", { error: (error as Error).message }))
        .finally(() => {
          running = null;
        });
    },
    /** Resolves when the release in progress (if any) ends. */
    idle: (): Promise<void> => running ?? Promise.resolve(),
  };
}
export type IpamReleaser = ReturnType<typeof createIpamReleaser>;
