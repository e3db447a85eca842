import { LRUCache } from "lru-cache";
import { hashSecret } from "./auth/secrets";
import { type TokenLimiter, type TokenRate, createTokenLimiter } from "./auth/tokenRate";
import type { AgentIdentity } from "./context";
import type { ThrottledLog } from "./throttledLog";

export const AGENT_ENDPOINT = "/api/agent";

/**
 * How much of a console process the agents may take (issue 15 §2), apart from people's calls on
 * /api/trpc: enrolments (each is a transaction and a credential hash), all agents' calls together,
 * each host's own calls (an agent that ignores Retry-After in a tight loop is held to its share),
 * and calls without a credential this process has seen authenticate, per client address and all
 * together. Beyond any of them: 429 with Retry-After.
 */
export interface AgentRates {
  enrol: TokenRate;
  calls: TokenRate;
  perHost: TokenRate;
  /** Each client address's calls with no known credential: enrolments, bad bearers, an agent's first call to this process. */
  perAddress: TokenRate;
  /** All calls with no known credential together (a credential lookup each), never taken from what the agents share. */
  unauthenticated: TokenRate;
}

export const DEFAULT_AGENT_RATES: AgentRates = {
  enrol: { perSecond: 10, burst: 20 },
  calls: { perSecond: 1000, burst: 2000 },
  perHost: { perSecond: 100, burst: 200 },
  perAddress: { perSecond: 100, burst: 200 },
  // The burst takes a 500-host fleet's first calls after a console restart twice over.
  unauthenticated: { perSecond: 200, burst: 1000 },
};

/** A 429: what it says and when to come back (whole seconds, at least 1). */
export interface AgentRefusal {
  status: 429;
  message: string;
  retryAfterS: number;
}

/** A request admitted before its body was read: what the rest of admission needs of it. */
export interface AgentTicket {
  /** The tRPC paths of the call (a batch: several), at most maxBatchSize + 1 of them. */
  paths: string[];
  bearer: string | null;
  ip: string;
  /** sha256 of the bearer (how credentials are stored and remembered), null without one. */
  credentialHash: string | null;
  /** The host the bearer authenticated as earlier on this process, if it did: its bucket was charged. */
  knownHostId: string | null;
}

export interface AgentAdmission {
  /**
   * Before the body is read: a bearer that authenticated earlier on this process is charged to its
   * host's bucket and then the agents' shared one; anything else (no bearer, a wrong one, a
   * credential not seen yet) to its address's bucket and then the unauthenticated one, so that a
   * flood of made-up bearers is held per address and never spends the real agents' share.
   */
  admit(req: Request, ip: string): AgentRefusal | AgentTicket;
  /**
   * After the body was screened: the bearer looked up by `lookup` (a database read unless cached).
   * A credential seen for the first time is remembered and charged to its host and the shared
   * bucket now; one that no longer authenticates (revoked, expired) is forgotten.
   */
  authenticate(ticket: AgentTicket, lookup: (bearer: string) => Promise<AgentIdentity | null>): Promise<AgentRefusal | { agent: AgentIdentity | null }>;
}

export interface AgentAdmissionOptions {
  rates?: Partial<AgentRates>;
  maxBatchSize: number;
  /** Where shedding is logged: once per reason and host or address every 10 s. */
  throttled: ThrottledLog;
  /** Buckets and remembered credentials kept at most, each (LRUs: a flood of distinct keys cannot grow them). */
  maxKeys?: number;
  now?: () => number;
}

/** One per handler, i.e. per console process: each replica sheds its own load. */
export function createAgentAdmission(options: AgentAdmissionOptions): AgentAdmission {
  const rates = { ...DEFAULT_AGENT_RATES, ...options.rates };
  const { maxKeys = 10_000, now = () => performance.now(), throttled, maxBatchSize } = options;
  const enrolments = createTokenLimiter(rates.enrol, now);
  const calls = createTokenLimiter(rates.calls, now);
  const hosts = createTokenLimiter(rates.perHost, now, maxKeys);
  const addresses = createTokenLimiter(rates.perAddress, now, maxKeys);
  const unauthenticated = createTokenLimiter(rates.unauthenticated, now);
  // Credential hash → host id, for credentials that authenticated here. Only the holder of a real
  // credential can put a key in, so a flood of made-up bearers cannot evict a host's bucket.
  const known = new LRUCache<string, string>({ max: maxKeys });

  function overRate(limiter: TokenLimiter, key: string, cost: number, what: string, who: Record<string, string> = {}): AgentRefusal | null {
    const wait = limiter.take(key, cost);
    if (wait <= 0) return null;
    const { perSecond, burst } = limiter.rate;
    throttled(`shed:${what}:${key}`, () => ({ level: "warn", msg: "shedding agent load: 429 with Retry-After", reason: what, ...who, perSecond, burst }));
    const seconds = Math.max(1, Math.ceil(wait));
    return { status: 429, message: `${what} (${perSecond}/s, bursts of ${burst}, on this console process): retry after ${seconds} s`, retryAfterS: seconds };
  }

  // The host's own bucket before the shared one: a host over its rate is refused without spending
  // what all agents share, so one agent in a tight loop cannot starve the others.
  const chargeHost = (hostId: string, credentialHash: string, ip: string, cost: number) =>
    overRate(hosts, hostId, cost, "This host is calling the console faster than it takes", { credential: credentialHash.slice(0, 12), sourceIp: ip }) ??
    overRate(calls, "all", cost, "Agents are calling this console faster than it takes");

  const chargeAddress = (ip: string, cost: number) =>
    overRate(addresses, ip, cost, "This address is calling the console faster than it takes without a known host credential", { sourceIp: ip }) ??
    overRate(unauthenticated, "all", cost, "Calls without a known host credential are coming faster than this console takes");

  return {
    admit(req, ip) {
      const paths = new URL(req.url).pathname.slice(AGENT_ENDPOINT.length + 1).split(",", maxBatchSize + 1);
      const bearer = /^Bearer ([A-Za-z0-9_-]{1,200})$/.exec(req.headers.get("authorization") ?? "")?.[1] ?? null;
      const credentialHash = bearer ? hashSecret(bearer) : null;
      const knownHostId = credentialHash ? (known.get(credentialHash) ?? null) : null;
      const enrolling = paths.filter((p) => p === "agent.enroll").length;
      const refusal =
        (knownHostId && credentialHash ? chargeHost(knownHostId, credentialHash, ip, paths.length) : chargeAddress(ip, paths.length)) ??
        (enrolling > 0 ? overRate(enrolments, "all", enrolling, "Hosts are enrolling faster than this console takes them") : null);
      return refusal ?? { paths, bearer, ip, credentialHash, knownHostId };
    },

    async authenticate(ticket, lookup) {
      const agent = ticket.bearer ? await lookup(ticket.bearer) : null;
      if (!ticket.credentialHash) return { agent };
      if (!agent) {
        if (ticket.knownHostId) known.delete(ticket.credentialHash);
        return { agent };
      }
      if (ticket.knownHostId === agent.hostId) return { agent };
      known.set(ticket.credentialHash, agent.hostId);
      return chargeHost(agent.hostId, ticket.credentialHash, ticket.ip, ticket.paths.length) ?? { agent };
    },
  };
}
