import { TRPCError } from "@trpc/server";
import { createTestDb } from "@switchyard/db/testing";
import type { Role } from "@switchyard/db";
import { hashPassword } from "./auth/password";
import type { Session } from "./auth/session";
import { createContextInner, type ConsoleDeps } from "./context";
import { createEventBus } from "./events";
import { createCaller } from "./root";
import { agentRootRouter } from "./routers/agent";
import { createCallerFactory } from "./trpc";
import type { AgentIdentity } from "./context";
import { authenticateAgent } from "./domain/hosts";
export { explainList, listStatements } from "./domain/listStatements";
export { parseMetricsText, type ParsedMetrics } from "./metrics/parseText";

const createAgentCaller = createCallerFactory(agentRootRouter);

/**
 * A real, isolated, migrated database per test file and callers acting as
 * users of each role, through `createCaller(createContextInner(…))`.
 */
export async function setupApiTest(opts: { kind?: "pglite" | "pglite-dir" | "postgres"; pgUrl?: string } = {}) {
  const testDb = await createTestDb(opts.kind, { pgUrl: opts.pgUrl });
  const deps: ConsoleDeps = {
    db: testDb.db,
    events: createEventBus(),
    sessionPolicy: { ttlMs: 3600_000 },
    secureCookies: false,
    reservedHostPorts: [3000],
  };
  const cookies: string[] = [];
  let hash: Promise<string> | undefined;

  async function createUserRow(username: string, role: Role, password?: string) {
    const passwordHash = password ? await hashPassword(password) : await (hash ??= hashPassword("test-password-123"));
    return deps.db.user.create({ data: { username, role, passwordHash }, select: { id: true, username: true, displayName: true, role: true } });
  }

  function sessionOf(user: { id: string; username: string; displayName: string; role: Role }): Session {
    return { id: `test-session-${user.id}`, user, expiresAt: new Date(Date.now() + 3600_000) };
  }

  function caller(session: Session | null, meta?: { requestId?: string; sourceIp?: string }) {
    return createCaller(createContextInner({ ...deps, session, meta, setCookie: (c) => cookies.push(c) }));
  }

  /** The agent endpoint's procedures, as the agent of `agent` (or unauthenticated). */
  function agentCaller(agent: AgentIdentity | null) {
    return createAgentCaller(createContextInner({ ...deps, session: null, agent })).agent;
  }

  async function callerAs(role: Role, username = `${role}-${Math.random().toString(36).slice(2, 8)}`) {
    const user = await createUserRow(username, role);
    return { user, caller: caller(sessionOf(user)) };
  }

  let enrolAdmin: Promise<ReturnType<typeof caller>> | undefined;
  /** Enrols a host as its agent would (a join token from an admin, then enrol): its id, credential and agent caller. */
  async function enrollHost(hostname: string, opts: { agentVersion?: string } = {}) {
    enrolAdmin ??= createUserRow(`enrol-admin-${Math.random().toString(36).slice(2, 8)}`, "admin").then((u) => caller(sessionOf(u)));
    const { token } = await (await enrolAdmin).hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
    const enrolled = await agentCaller(null).enroll({ joinToken: token, hostname, agentVersion: opts.agentVersion ?? "test" });
    const identity = await authenticateAgent(deps.db, enrolled.credential);
    if (!identity) throw new Error(`the credential enrolled for ${hostname} does not authenticate`);
    return { ...enrolled, name: hostname, identity, agent: agentCaller(identity) };
  }

  return {
    db: testDb.db,
    /** Where the database is: a second console replica opens it again (createDb, createDbEventBus). */
    url: testDb.url,
    kind: testDb.kind,
    deps,
    cookies,
    createUserRow,
    sessionOf,
    caller,
    callerAs,
    agentCaller,
    enrollHost,
    anonymous: caller(null),
    close: () => testDb.close(),
  };
}

export type ApiTest = Awaited<ReturnType<typeof setupApiTest>>;

export const BRIDGE_CONFLIST = (name = "lab", subnet = "10.88.0.0/24", gateway = "10.88.0.1") =>
  JSON.stringify(
    {
      cniVersion: "1.0.0",
      name,
      plugins: [
        {
          type: "bridge",
          bridge: "cni-lab0",
          isGateway: true,
          ipMasq: true,
          ipam: { type: "host-local", ranges: [[{ subnet, gateway }]], routes: [{ dst: "0.0.0.0/0" }] },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );

/**
 * One tRPC call over plain HTTP as a script sends it (curl, a CI job): a bearer token when given,
 * no Origin, no cookie. Returns the status, the data and the error message.
 */
export async function trpcOverHttp(baseUrl: string, path: string, input: unknown, opts: { bearer?: string | null; kind?: "mutation" | "query"; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...(opts.bearer ? { authorization: `Bearer ${opts.bearer}` } : {}), ...opts.headers };
  const res =
    opts.kind === "query"
      ? await fetch(`${baseUrl}/api/trpc/${path}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`, { headers })
      : await fetch(`${baseUrl}/api/trpc/${path}`, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify({ json: input }) });
  const body = (await res.json()) as { result?: { data: { json: unknown } }; error?: { message: string; json?: { message: string } } };
  return { status: res.status, data: body.result?.data.json as Record<string, unknown> | undefined, message: body.error?.json?.message ?? body.error?.message ?? "" };
}

/**
 * A real HTTP server on 127.0.0.1 serving the console's tRPC endpoints (browser and agent) over
 * `deps`: what an agent process under test dials. SSE responses are streamed as they come.
 */
export async function serveApi(
  deps: ConsoleDeps,
  port = 0,
  opts: { metricsToken?: string; agentRates?: Partial<import("./http").AgentRates>; streamsPerCredential?: number; log?: import("./throttledLog").Log } = {},
): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const { createServer } = await import("node:http");
  const { Readable } = await import("node:stream");
  const { AGENT_ENDPOINT, createAgentHttpHandler, createTrpcHttpHandler } = await import("./http");
  const limits = { ...(opts.streamsPerCredential ? { streamsPerCredential: opts.streamsPerCredential } : {}), ...(opts.log ? { log: opts.log } : {}) };
  const agent = createAgentHttpHandler(async () => deps, { ...limits, ...(opts.agentRates ? { rates: opts.agentRates } : {}) });
  const browser = createTrpcHttpHandler(async () => deps, limits);
  const { REST_ENDPOINT, createRestHttpHandler } = await import("./rest");
  const rest = createRestHttpHandler(async () => deps, opts.log ? { log: opts.log } : {});
  const metrics = (await import("./metrics/http")).createMetricsHttpHandler(async () => deps, { scrapeToken: opts.metricsToken });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const abort = new AbortController();
      res.on("close", () => abort.abort());
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
      headers.set("x-forwarded-for", req.socket.remoteAddress ?? "");
      const request = new Request(`http://${req.headers.host}${req.url}`, {
        method: req.method,
        headers,
        signal: abort.signal,
        ...(req.method === "GET" || req.method === "HEAD" ? {} : { body: Buffer.concat(chunks) }),
      });
      const handler = req.url?.startsWith(`${AGENT_ENDPOINT}/`) ? agent : req.url?.startsWith(`${REST_ENDPOINT}/`) ? rest : req.url?.split("?")[0] === "/metrics" ? metrics : browser;
      handler(request)
        .then((response) => {
          res.writeHead(response.status, Object.fromEntries(response.headers));
          if (!response.body) return res.end();
          Readable.fromWeb(response.body as import("node:stream/web").ReadableStream).on("error", () => res.destroy()).pipe(res);
        })
        .catch((err: unknown) => {
          res.writeHead(500).end(String(err));
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const bound = (server.address() as import("node:net").AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The TRPCError a call was refused with (fails the test when it was not refused). */
export async function trpcError(p: Promise<unknown>): Promise<TRPCError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof TRPCError)) throw new Error(`expected a TRPCError, got ${err === null ? "success" : String(err)}`);
  return err;
}
