import path from "node:path";
import { z } from "zod";

/** The console's configuration, parsed once at start. The README's table mirrors it. */
const Env = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^(postgres(ql)?:\/\/|file:)/, "must be postgresql://… or file:<PGlite directory>; leave unset for the embedded database")
    .optional(),
  SWITCHYARD_DATA_DIR: z.string().min(1).default(".switchyard"),
  /** The console is started from apps/console; the bundle cannot locate files by module URL. */
  SWITCHYARD_MIGRATIONS_DIR: z.string().min(1).default("../../prisma/migrations"),
  /** The built agent (switchyard-agent.mjs and its systemd unit) that /downloads/ serves to new hosts. */
  SWITCHYARD_AGENT_DIST_DIR: z.string().min(1).default("../agent/dist"),
  SWITCHYARD_ADMIN_PASSWORD: z.string().min(12, "must be at least 12 characters").optional(),
  SWITCHYARD_PUBLIC_URL: z.url().optional(),
  SWITCHYARD_SESSION_TTL_HOURS: z.coerce.number().positive().max(24 * 30).default(12),
  SWITCHYARD_SECURE_COOKIES: z.stringbool().default(false),
  SWITCHYARD_MAX_BATCH: z.coerce.number().int().min(1).max(1000).default(20),
  /** The agent endpoint takes at least 3 MiB whatever this says (agents keep each request within 1.5 MiB: AGENT_BODY_BUDGET_BYTES). */
  SWITCHYARD_MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(2 * 1024 * 1024),
  /** Live streams (SSE) and long polls one credential (a browser session, an API token, a host) may hold at once on this process: 429 beyond. */
  SWITCHYARD_STREAMS_PER_CREDENTIAL: z.coerce.number().int().min(1).max(10_000).default(32),
  /** Each API token's rate limit: calls per second, and the burst it may spend at once (429 beyond). */
  SWITCHYARD_TOKEN_RATE: z.coerce.number().positive().max(100_000).default(20),
  SWITCHYARD_TOKEN_BURST: z.coerce.number().int().min(1).max(100_000).default(40),
  /**
   * What the host agents may take of this console process (issue 15; README "Running a fleet"):
   * enrolments, all agent calls, each host's calls, per second with a burst; beyond: 429 with
   * Retry-After. People's calls (/api/trpc) are not counted against them.
   */
  SWITCHYARD_ENROL_RATE: z.coerce.number().positive().max(10_000).default(10),
  SWITCHYARD_ENROL_BURST: z.coerce.number().int().min(1).max(100_000).default(20),
  SWITCHYARD_AGENT_RATE: z.coerce.number().positive().max(1_000_000).default(1000),
  SWITCHYARD_AGENT_BURST: z.coerce.number().int().min(1).max(1_000_000).default(2000),
  SWITCHYARD_AGENT_HOST_RATE: z.coerce.number().positive().max(100_000).default(100),
  SWITCHYARD_AGENT_HOST_BURST: z.coerce.number().int().min(1).max(100_000).default(200),
  /** Agent calls with no credential this process has seen authenticate (enrolments, bad bearers, an agent's first call): per client address, and all together. */
  SWITCHYARD_AGENT_ADDRESS_RATE: z.coerce.number().positive().max(100_000).default(100),
  SWITCHYARD_AGENT_ADDRESS_BURST: z.coerce.number().int().min(1).max(100_000).default(200),
  SWITCHYARD_AGENT_UNAUTH_RATE: z.coerce.number().positive().max(1_000_000).default(200),
  SWITCHYARD_AGENT_UNAUTH_BURST: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  /** PostgreSQL connections this process holds at most, and how long a query waits for one before the answer is 503 (busy). */
  SWITCHYARD_DB_POOL: z.coerce.number().int().min(1).max(1000).default(10),
  SWITCHYARD_DB_POOL_WAIT_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
  /** A bearer token Prometheus may scrape /metrics with, besides general API tokens (README "Metrics"). */
  SWITCHYARD_METRICS_TOKEN: z.string().min(32, "must be at least 32 characters (e.g. openssl rand -hex 32)").max(200).regex(/^\S+$/, "must not contain whitespace").optional(),
  /**
   * At most one NOTIFY to the other console replicas per this many ms (each notifying commit takes
   * a cluster-wide lock): events within it of the last one wait and go together. An event after a
   * quiet spell goes out at once.
   */
  SWITCHYARD_EVENTS_TICK_MS: z.coerce.number().int().min(0).max(1000).default(10),
  /** server.mjs listens here; attachments may not map this port on a host. */
  PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  /**
   * Quick start: while no host is enrolled, write a fresh join token to this file (0600) for a
   * local agent to use (`switchyard-agent --join-token-file`).
   */
  SWITCHYARD_LOCAL_JOIN_TOKEN_FILE: z.string().min(1).optional(),
  /** Detached attachments older than this are purged (with their job history); 0 keeps them. */
  SWITCHYARD_PURGE_DETACHED_AFTER_HOURS: z.coerce.number().min(0).max(24 * 3650).default(24 * 7),
  /** How long each address's history (allocated, released, reserved, ...) is kept; 0 keeps it forever. */
  SWITCHYARD_IPAM_HISTORY_DAYS: z.coerce.number().min(0).max(3650).default(90),
});
export type Env = z.infer<typeof Env>;

let parsed: Env | undefined;

export function getEnv(): Env {
  if (parsed) return parsed;
  // An empty variable counts as unset (compose files pass `${X:-}`).
  const result = Env.safeParse(Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== "")));
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`Invalid console configuration:\n${lines.join("\n")}`);
  }
  parsed = result.data;
  return parsed;
}

export function databaseUrl(env: Env): string {
  return env.DATABASE_URL ?? `file:${path.resolve(env.SWITCHYARD_DATA_DIR, "db")}`;
}
