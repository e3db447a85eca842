"use client";

import { useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import type { Resync, TopicMessage } from "@switchyard/api";
import { createContext, useContext, useEffect, useRef } from "react";
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

/** Opens the tab's stream and keeps network pages and the audit log current. */
export function LiveUpdates() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const hub = useContext(LiveHubContext);
  useSubscription(
    trpc.events.stream.subscriptionOptions(undefined, {
      // Started or restarted: what changed while no stream was open (also between the page's
      // first reads and this start) is read again.
      onStarted: () => hub.dispatch({ topic: "resync", event: { kind: "resync", reason: "reconnected" } }),
      onData: (m) => hub.dispatch(m),
    }),
  );
  useLiveEvents("network", () => {
    void queryClient.invalidateQueries({ queryKey: trpc.networks.pathKey() });
    void queryClient.invalidateQueries({ queryKey: trpc.audit.pathKey() });
  });
  return null;
}
