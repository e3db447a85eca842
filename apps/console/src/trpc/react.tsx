"use client";

import type { AppRouter } from "@switchyard/api";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, TRPCClientError } from "@trpc/client";
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import { createTRPCContext } from "@trpc/tanstack-react-query";
import { useState, type ReactNode } from "react";
import superjson from "superjson";

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;

function makeQueryClient() {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 5_000,
        retry: (count, err) => !(err instanceof TRPCClientError && err.data?.httpStatus < 500) && count < 2,
      },
    },
  });
}

export function TrpcProviders({ children }: { children: ReactNode }) {
  const [queryClient] = useState(makeQueryClient);
  const [trpcClient] = useState(() =>
    createTRPCClient<AppRouter>({
      links: [
        splitLink({
          condition: (op) => op.type === "subscription",
          true: httpSubscriptionLink({ url: "/api/trpc", transformer: superjson }),
          // Same limit as the server's SWITCHYARD_MAX_BATCH default.
          false: httpBatchLink({ url: "/api/trpc", transformer: superjson, maxItems: 20 }),
        }),
      ],
    }),
  );
  return (
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
        {children}
      </TRPCProvider>
    </QueryClientProvider>
  );
}

/** Field issues the API attached to an error (see the server's errorFormatter). */
export function errorIssues(err: unknown): { path: (string | number)[]; message: string }[] {
  if (err instanceof TRPCClientError) {
    const issues = (err.data as { issues?: { path: (string | number)[]; message: string }[] } | undefined)?.issues;
    return issues ?? [];
  }
  return [];
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
