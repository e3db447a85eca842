import type { AgentRouter } from "@switchyard/api";
import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink, type TRPCClient } from "@trpc/client";
import { EventSource } from "eventsource";
import superjson from "superjson";

export type AgentClient = TRPCClient<AgentRouter>["agent"];

/**
 * The agent's only channel to the console: it dials out (HTTP calls and one SSE stream for
 * pushed work), never listens. `credential()` is read at each call so a rotation takes effect
 * at once.
 */
export function createAgentClient(consoleUrl: string, credential: () => string | undefined, userAgent: string): AgentClient {
  const url = `${consoleUrl}/api/agent`;
  const headers = (): Record<string, string> => {
    const c = credential();
    return { "user-agent": userAgent, ...(c ? { authorization: `Bearer ${c}` } : {}) };
  };
  const client = createTRPCClient<AgentRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({
          url,
          transformer: superjson,
          EventSource,
          // The eventsource package takes a fetch: that is where the bearer header goes.
          eventSourceOptions: () => ({ fetch: (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers() } }) }),
        }),
        false: httpLink({ url, transformer: superjson, headers }),
      }),
    ],
  });
  return client.agent;
}
