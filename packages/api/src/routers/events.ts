import { TRPCError } from "@trpc/server";
import type { Role } from "@switchyard/db";
import type { Context } from "../context";
import { TOPICS, type TopicMessage, type Topic } from "../events";
import { hasRole, router, viewerProcedure } from "../trpc";
import { dbNowMs } from "../clock";

/** Who may see each topic in the browser stream; a new topic without a rule fails to compile. */
const TOPIC_ROLE: Record<Topic, Role> = { network: "viewer", host: "viewer", operation: "viewer", ipam: "viewer", services: "viewer" };

/** Host events that concern only the host's agent. */
const AGENT_ONLY_HOST_KINDS = new Set(["work", "reconcile"]);

/** How often a live stream checks that its session still stands (signed out, disabled, expired). */
export const SESSION_RECHECK_MS = 60_000;

export function browserTopics(role: Role): Topic[] {
  return TOPICS.filter((t) => hasRole(role, TOPIC_ROLE[t]));
}

function isForBrowsers(message: TopicMessage): boolean {
  return !(message.topic === "host" && AGENT_ONLY_HOST_KINDS.has(message.event.kind));
}

async function sessionStands(ctx: Pick<Context, "db">, sessionId: string): Promise<boolean> {
  const row = await ctx.db.session.findUnique({ where: { id: sessionId }, select: { expiresAt: true, user: { select: { disabled: true } } } });
  return !!row && row.expiresAt.getTime() > dbNowMs() && !row.user.disabled;
}

/** The stream's messages for this browser until it goes away or its session ends. */
async function* relayToBrowser(ctx: Pick<Context, "db"> & { session: { id: string } }, messages: AsyncIterable<TopicMessage>, stop: AbortController): AsyncGenerator<TopicMessage> {
  let ended = false;
  const recheck = setInterval(() => {
    void sessionStands(ctx, ctx.session.id)
      .then((ok) => {
        if (!ok) (ended = true), stop.abort();
      })
      .catch(() => {});
  }, SESSION_RECHECK_MS);
  try {
    for await (const message of messages) {
      if (isForBrowsers(message)) yield message;
    }
    if (ended) throw new TRPCError({ code: "UNAUTHORIZED", message: "This session ended: sign in again" });
  } finally {
    clearInterval(recheck);
    stop.abort();
  }
}

export const eventsRouter = router({
  /**
   * The one live stream of a browser tab (SSE): every topic the signed-in user may see, as
   * doorbells (ids and kinds); the page reads what changed by query. A `resync` message says
   * events may have been missed (this replica's listener reconnected): re-read what is shown.
   */
  stream: viewerProcedure.subscription(({ ctx, signal }) => {
    // Stops listening when the request goes away, even if the stream was never read.
    const stop = new AbortController();
    if (signal?.aborted) stop.abort();
    signal?.addEventListener("abort", () => stop.abort(), { once: true, signal: stop.signal });
    // Listening now, in the resolver: tRPC sends "connected" before it reads the stream, and the
    // browser re-reads what it shows on "connected"; an event published between that re-read and
    // a listener attached at the first read would be lost.
    const messages = ctx.events.subscribeMany(browserTopics(ctx.session.user.role), stop.signal);
    return relayToBrowser(ctx, messages, stop);
  }),
});
