"use client";

import { useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useTRPC } from "~/trpc/react";

/** Keeps every open page current: a committed network change refetches network queries. */
export function LiveUpdates() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  useSubscription(
    trpc.networks.onChange.subscriptionOptions(undefined, {
      onData: () => {
        void queryClient.invalidateQueries({ queryKey: trpc.networks.pathKey() });
        void queryClient.invalidateQueries({ queryKey: trpc.audit.pathKey() });
      },
    }),
  );
  return null;
}
