import { parseCidr, parseIp } from "@switchyard/ipam";
import { z } from "zod";
import { readIpamAddress, readIpamMap, searchIpamAddress } from "../domain/ipamMap";
import { dryRunRelease, listLeaks } from "../domain/ipamLeaks";
import { readIpamSummary } from "../domain/ipamSummary";
import { createReservation, deleteReservation, listReservations } from "../domain/ipamReservations";
import { listBlocks, setBlockPolicy } from "../domain/ipamBlocks";
import { listReleases, requestRelease } from "../domain/ipamRelease";
import { RELEASE_LIMITS } from "../schemas/ipamRelease";
import { findStrandedLeases } from "../domain/ipamStranded";
import { ConfigText, Id } from "../schemas";
import { operatorProcedure, router, viewerProcedure } from "../trpc";

/** An IPv4 or IPv6 address, canonical form out (`10.0.0.01` is refused: ambiguous). */
export const IpAddressText = z
  .string()
  .max(64)
  .transform((text, ctx) => {
    const parsed = parseIp(text.trim());
    if (parsed.ok) return parsed.value.text;
    ctx.addIssue({ code: "custom", message: parsed.error.message });
    return z.NEVER;
  });

/** A CIDR, host bits cleared (`10.1.2.3/16` means 10.1.0.0/16). IPv4 no larger than a /8. */
export const CidrText = z
  .string()
  .max(64)
  .transform((text, ctx) => {
    const parsed = parseCidr(text.trim(), { allowHostBits: true });
    if (!parsed.ok) {
      ctx.addIssue({ code: "custom", message: parsed.error.message });
      return z.NEVER;
    }
    if (parsed.value.family === 4 && parsed.value.prefixLength < 8) {
      ctx.addIssue({ code: "custom", message: `"${text}" is larger than a /8: the map shows at most a /8 at once` });
      return z.NEVER;
    }
    return parsed.value.text;
  });

/** Per-host blocks of a network: a block size (addresses, or a prefix length "/26"), or null for off. */
export const BlockSettingInput = z.object({
  networkId: Id,
  blockSize: z.union([
    z.number().int().min(2).max(2 ** 30),
    z.string().regex(/^\/\d{1,3}$/, 'a prefix length like "/26"').transform((t) => t as `/${number}`),
    z.null(),
  ]),
});

/** Leaked addresses of one host, for the dry run and the release. */
const ReleaseInput = z.object({ networkId: Id, hostId: Id, addresses: z.array(IpAddressText).min(1).max(RELEASE_LIMITS.addresses) });

/** What each call touches, for API tokens limited to some networks (auth/tokenLimits.ts); `search` spans every network. */
const NETWORK = { touches: { network: "networkId" } } as const;

export const ipamRouter = router({
  /** A network's utilisation per subnet and host, and its use over the last week. */
  summary: viewerProcedure.meta(NETWORK).input(z.object({ networkId: Id })).query(({ ctx, input }) => readIpamSummary(ctx.db, input.networkId)),
  /** The map of a CIDR of a network: a grid up to a /24, a heatmap of blocks above. */
  map: viewerProcedure.meta(NETWORK).input(z.object({ networkId: Id, cidr: CidrText })).query(({ ctx, input }) => readIpamMap(ctx.db, input.networkId, input.cidr)),
  /** One address of a network: its holders on every host now, and its history. */
  address: viewerProcedure.meta(NETWORK).input(z.object({ networkId: Id, address: IpAddressText })).query(({ ctx, input }) => readIpamAddress(ctx.db, input.networkId, input.address)),
  /** Who holds the address now in every network, or who held it at `at`. */
  search: viewerProcedure
    .input(z.object({ address: IpAddressText, at: z.coerce.date().optional() }))
    .query(({ ctx, input }) => searchIpamAddress(ctx.db, input.address, input.at)),
  reservations: viewerProcedure.meta(NETWORK).input(z.object({ networkId: Id })).query(({ ctx, input }) => listReservations(ctx.db, input.networkId)),
  /** Keeps an address or a range out of allocation on every host of the network. */
  reserve: operatorProcedure
    .meta(NETWORK)
    .input(z.object({ networkId: Id, first: IpAddressText, last: IpAddressText.optional(), note: z.string().trim().max(500).default("") }))
    .mutation(({ ctx, input }) => createReservation(ctx, input)),
  /** A network's per-host block setting and the blocks given to hosts. */
  blocks: viewerProcedure.meta(NETWORK).input(z.object({ networkId: Id })).query(({ ctx, input }) => listBlocks(ctx.db, input.networkId)),
  /** Per-host blocks on (a block size: addresses, or a prefix like "/26") or off (null). */
  setBlocks: operatorProcedure.meta(NETWORK).input(BlockSettingInput).mutation(({ ctx, input }) => setBlockPolicy(ctx, input)),
  unreserve: operatorProcedure.meta({ touches: { reservation: "id" } }).input(z.object({ id: Id })).mutation(({ ctx, input }) => deleteReservation(ctx, input.id)),
  /** The leases no live attachment holds, each judged on its evidence (leaks first). */
  leaks: viewerProcedure.meta(NETWORK).input(z.object({ networkId: Id })).query(({ ctx, input }) => listLeaks(ctx.db, input.networkId)),
  /** What releasing these addresses on this host would do: nothing is done. */
  dryRunRelease: viewerProcedure
    .meta(NETWORK)
    .input(ReleaseInput)
    .query(({ ctx, input }) => dryRunRelease(ctx.db, input)),
  /** Releases leaked addresses of one host as the dry run said (all or nothing is asked): audited, carried out by its agent. */
  release: operatorProcedure.meta(NETWORK).input(ReleaseInput).mutation(({ ctx, input }) => requestRelease(ctx, input)),
  /** The latest releases of a network and what the agents did. */
  releases: viewerProcedure.meta(NETWORK).input(z.object({ networkId: Id })).query(({ ctx, input }) => listReleases(ctx.db, input.networkId)),
  /** The leases hosts hold now that a draft of the network's config would leave outside its ranges: nothing is saved. */
  stranded: viewerProcedure.meta(NETWORK).input(z.object({ networkId: Id, text: ConfigText })).query(({ ctx, input }) => findStrandedLeases(ctx.db, input)),
});
