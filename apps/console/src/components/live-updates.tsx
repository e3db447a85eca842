"use client";

import { type InvalidateQueryFilters, type QueryClient, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import type { Resync, TopicMessage } from "@switchyard/api";
import { createContext, useCallback, useContext, useEffect, useRef } from "react";
import { redialDelayMs } from "~/lib/redial";
import { useTRPC } from "~/trpc/react";

type Topic = Exclude<TopicMessage["topic"], "resync">;
type EventOf<K extends Topic> = Extract<TopicMessage, { topic: K }>["event"];
type Handler = (message: TopicMessage) => void;

/**
 * The tab's one live stream, shared by every component: they register handlers here instead
 * of opening streams of their own (a browser allows six HTTP/1.1 connections per origin).
 */
export interface LiveHub {
  on(handler: Handler): () => void;
  dispatch(message: TopicMessage): void;
}

export function createLiveHub(): LiveHub {
  const handlers = new Set<Handler>();
  return {
    on(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    dispatch(message) {
      for (const h of handlers) h(message);
    },
  };
}

// One per tab; LiveUpdates (mounted once by the console layout) feeds it.
const LiveHubContext = createContext<LiveHub>(createLiveHub());

/**
 * Calls `handler` with each event of `topic`, and with a resync when events may have been
 * missed (the stream (re)started): then re-read what the component shows.
 */
export function useLiveEvents<K extends Topic>(topic: K, handler: (event: EventOf<K> | Resync) => void): void {
  const hub = useContext(LiveHubContext);
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(
    () =>
      hub.on((m) => {
        if (m.topic === topic || m.topic === "resync") latest.current(m.event as EventOf<K> | Resync);
      }),
    [hub, topic],
  );
}

/**
 * Re-reads what a live event (or a resync) concerns. `invalidateQueries` alone can lose the event:
 * TanStack Query does not cancel a query's FIRST read when it is invalidated (it cancels only a
 * refetch of data it already has), so a read that left before the change and lands after the
 * event counts as fresh, and nothing reads again. Cancelling the reads in flight first makes every
 * matching query read after the event.
 */
export async function refetchLive(queryClient: QueryClient, filters: InvalidateQueryFilters): Promise<void> {
  await queryClient.cancelQueries({ ...filters, fetchStatus: "fetching" });
  await queryClient.invalidateQueries(filters);
}

/** `refetchLive` bound to this tab's query client, for event handlers. */
export function useRefetchLive(): (filters: InvalidateQueryFilters) => void {
  const queryClient = useQueryClient();
  return useCallback((filters) => void refetchLive(queryClient, filters), [queryClient]);
}

/** Opens the tab's stream and keeps network pages and the audit log current. */
export function LiveUpdates() {
  const trpc = useTRPC();
  const refetch = useRefetchLive();
  const hub = useContext(LiveHubContext);
  const stream = useSubscription(
    trpc.events.stream.subscriptionOptions(undefined, {
      // Started or restarted: what changed while no stream was open (also between the page's
      // first reads and this start) is read again.
      onStarted: () => hub.dispatch({ topic: "resync", event: { kind: "resync", reason: "reconnected" } }),
      onData: (m) => hub.dispatch(m),
    }),
  );
  // A stream answered with anything but 200 ends in "error" and the browser never dials it again:
  // this tab would stay without live updates for good. Open it again after a growing, jittered wait.
  const failures = useRef(0);
  const { status, reset } = stream;
  useEffect(() => {
    if (status === "pending") failures.current = 0;
    if (status !== "error") return;
    const timer = setTimeout(reset, redialDelayMs(failures.current++));
    return () => clearTimeout(timer);
  }, [status, reset]);
  useLiveEvents("network", () => {
    refetch({ queryKey: trpc.networks.pathKey() });
    refetch({ queryKey: trpc.audit.pathKey() });
  });
  return null;
}
