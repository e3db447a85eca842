import { createHash, timingSafeEqual } from "node:crypto";
import { DEFAULT_TOKEN_RATE, type TokenRate } from "../auth/tokenRate";
import type { ConsoleDeps } from "../context";
import { bearerToken, limiterFor } from "../http";
import { renderFleetMetrics } from "./fleet";
import { replicaMetrics } from "./replica";

export interface MetricsHttpOptions {
  /**
   * A scrape token from the environment (SWITCHYARD_METRICS_TOKEN): Prometheus may send it instead
   * of an API token, so scraping needs no user account and never expires with one.
   */
  scrapeToken?: string;
  /** Calls per second and burst allowed to each API token (the bucket the API endpoints use). */
  tokenRate?: TokenRate;
}

/** What a scrape serves: `replica` this process's series, `fleet` the database's, `all` both (the default). */
const SCOPES = ["all", "replica", "fleet"] as const;
type Scope = (typeof SCOPES)[number];

const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function refuse(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(`${message}\n`, { status, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", ...headers } });
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/**
 * The console's Prometheus endpoint (GET /metrics). It answers only a bearer: the scrape token
 * from the environment, or a general API token of any role (a viewer's is enough) without
 * network or service limits — a limited token sees only part of the console, and the metrics are
 * about all of it. Anything else is a 401 saying what to send; a scrape costs one token lookup
 * and, for the fleet part, two cheap queries.
 */
export function createMetricsHttpHandler(deps: () => Promise<ConsoleDeps>, options: MetricsHttpOptions = {}) {
  const scrapeDigest = options.scrapeToken ? digest(options.scrapeToken) : null;
  return async function handle(req: Request): Promise<Response> {
    if (req.method !== "GET") return refuse(405, `Method ${req.method} is not allowed: scrape with GET`, { allow: "GET" });
    const scope = new URL(req.url).searchParams.get("scope") ?? "all";
    if (!(SCOPES as readonly string[]).includes(scope)) return refuse(400, `scope ${JSON.stringify(scope)} is not one of ${SCOPES.join(", ")}`);
    const bearer = /^Bearer\s+(\S{1,200})$/i.exec(req.headers.get("authorization") ?? "")?.[1];
    if (!bearer) {
      return refuse(401, "Metrics need a bearer token: Authorization: Bearer <SWITCHYARD_METRICS_TOKEN, or a general API token (syt_...) without network or service limits>", {
        "www-authenticate": 'Bearer realm="switchyard metrics"',
      });
    }
    const d = await deps();
    // Compared as digests: equal lengths for timingSafeEqual, and nothing learnt from the timing.
    if (!(scrapeDigest && timingSafeEqual(digest(bearer), scrapeDigest))) {
      // An API token: checked, and its calls counted, as on the API endpoints (one bucket per token).
      const token = await bearerToken(req, d, limiterFor(d, options.tokenRate ?? DEFAULT_TOKEN_RATE), 1, crypto.randomUUID());
      if (token instanceof Response) return token;
      if (token.scope !== "general") return refuse(403, `API token "${token.name}" is a ${token.scope} token: metrics need a general token`);
      if (token.networkIds.length > 0 || token.serviceIds.length > 0) return refuse(403, `API token "${token.name}" is limited to some networks or services: metrics cover the whole console, use a token without limits`);
    }
    const parts: string[] = [];
    if (scope !== "fleet") parts.push(await replicaMetrics().registry.metrics());
    if (scope !== "replica") parts.push(await renderFleetMetrics(d.db));
    return new Response(parts.join(""), { status: 200, headers: { "content-type": CONTENT_TYPE, "cache-control": "no-store" } });
  };
}

export type { Scope as MetricsScope };
