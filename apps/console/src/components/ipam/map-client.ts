"use client";

import type { AppRouter } from "@switchyard/api";
import { createTRPCClient, httpLink } from "@trpc/client";
import superjson from "superjson";

/**
 * The map's own link, unbatched: in the page's batch its data waited for the slowest list asked
 * for in the same tick (the leaks, half a megabyte at 50,000 leases) and was drawn in the same
 * long render. On its own it lands, and is painted, when it is ready (bench/ipam-browser.ts).
 */
export const mapClient = createTRPCClient<AppRouter>({
  links: [httpLink({ url: "/api/trpc", transformer: superjson })],
});
