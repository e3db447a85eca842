import type { Db } from "@switchyard/db";
import type { TokenIdentity } from "./auth/apiTokens";
import type { Within } from "./auth/tokenLimits";
import type { Session, SessionPolicy } from "./auth/session";
import type { EventBus } from "./events";

export interface RequestMeta {
  requestId: string;
  sourceIp: string;
  userAgent: string;
}

export interface ConsoleDeps {
  db: Db;
  events: EventBus;
  sessionPolicy: SessionPolicy;
  /** Set the Secure flag on cookies (HTTPS deployments). */
  secureCookies: boolean;
  /** Host ports attachments may not map: the console's own listening port(s). */
  reservedHostPorts?: number[];
  /** SWITCHYARD_PUBLIC_URL: webhooks may not point at it (webhookDestination.ts). */
  publicUrl?: string | undefined;
}

/** An agent authenticated by its host credential (the agent endpoint only). */
export interface AgentIdentity {
  hostId: string;
  hostName: string;
}

export interface InnerContextOptions extends ConsoleDeps {
  session: Session | null;
  agent?: AgentIdentity | null;
  /** A caller authenticated by an API token (never together with a session). */
  token?: TokenIdentity | null;
  meta?: Partial<RequestMeta>;
  /** Appends a Set-Cookie header to the response; absent outside HTTP. */
  setCookie?: (cookie: string) => void;
}

/** The pure context: tests call this directly with a real database and a session. */
export function createContextInner(opts: InnerContextOptions) {
  return {
    db: opts.db,
    events: opts.events,
    sessionPolicy: opts.sessionPolicy,
    secureCookies: opts.secureCookies,
    reservedHostPorts: opts.reservedHostPorts ?? [],
    publicUrl: opts.publicUrl,
    session: opts.session,
    agent: opts.agent ?? null,
    token: opts.token ?? null,
    /** A limited API token's networks and services (set by protectedProcedure); lists narrow to them. */
    within: null as Within | null,
    meta: {
      requestId: opts.meta?.requestId ?? crypto.randomUUID(),
      sourceIp: opts.meta?.sourceIp ?? "",
      userAgent: opts.meta?.userAgent ?? "",
    } satisfies RequestMeta,
    setCookie: opts.setCookie ?? (() => {}),
  };
}

export type Context = ReturnType<typeof createContextInner>;
