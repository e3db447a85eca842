"use client";

import type { AppRouter } from "@switchyard/api";
import type { ConfigIssue } from "@switchyard/cni/config";
import { createTRPCClient, httpLink } from "@trpc/client";
import { useEffect, useState } from "react";
import superjson from "superjson";

/**
 * Queries whose input can outgrow a URL (a draft config, files to preview) go as POST: they pass
 * the same Origin and content-type screen as mutations, and still write nothing.
 */
export const postQueryClient = createTRPCClient<AppRouter>({
  links: [httpLink({ url: "/api/trpc", transformer: superjson, methodOverride: "POST" })],
});

const DEBOUNCE_MS = 400;

/**
 * The server's view of a draft while it is edited (its overlaps with other networks), asked for
 * DEBOUNCE_MS after the last keystroke; nothing is written. Null until the first answer.
 */
export function useDraftWarnings(text: string, options: { id?: string; enabled: boolean }): ConfigIssue[] | null {
  const [answer, setAnswer] = useState<ConfigIssue[] | null>(null);
  const { id, enabled } = options;
  useEffect(() => {
    if (!enabled) return;
    let current = true;
    const timer = setTimeout(() => {
      postQueryClient.networks.validate
        .query({ text, ...(id ? { id } : {}) })
        .then((r) => current && setAnswer(r.warnings))
        .catch(() => current && setAnswer(null));
    }, DEBOUNCE_MS);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [text, id, enabled]);
  return enabled ? answer : null;
}

/** A file the import would read: its name and text. */
export type DraftFile = { fileName: string; text: string };
