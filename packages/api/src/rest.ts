import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import { z } from "zod";
import { createContextInner, type ConsoleDeps } from "./context";
import { DEFAULT_HTTP_OPTIONS, bearerToken, hasPollutingKey, limiterFor, readBodyLimited, refuse, shedWhenDbDown, sourceIp, tooLargeLog, tooLargeMessage, type TrpcHttpOptions } from "./http";
import { createThrottledLog } from "./throttledLog";
import { instrumentRequests } from "./metrics/requests";
import { appRouter, createCaller } from "./root";
import { BUSY_RETRY_AFTER_S, PEOPLE_ONLY, describeError } from "./trpc";

/**
 * The REST API (issue 13 §3): the console's own tRPC procedures over plain JSON, for automation
 * in languages without a tRPC client. Nothing is defined twice: each procedure is served at
 * `/api/v1/<path>` (`/api/v1/networks.create`), its request body is its tRPC input, checked by the
 * same zod schema, and the OpenAPI document is generated from those schemas. Calls run through a
 * server-side caller, so every middleware (roles, token limits, read-only, audit) applies as it
 * does on the tRPC endpoint.
 *
 * trpc-to-openapi was the alternative: it needs a second declaration per procedure (a method, a
 * REST path and an output schema in its meta) and coerces query strings loosely; zod 4 writes JSON
 * Schema itself (`z.toJSONSchema`), which is all the document needs.
 *
 * Only API tokens are accepted (`Authorization: Bearer syt_…`); cookies are ignored, so no request
 * here acts with a browser's session and there is nothing to forge across sites.
 */
export const REST_ENDPOINT = "/api/v1";

type Procedure = { _def: { type: "query" | "mutation" | "subscription"; inputs: z.ZodType[] } };

/** The procedures served, by path: every query and mutation of the console's router that a token may call (what only people do stays off). */
export const REST_PROCEDURES: ReadonlyMap<string, Procedure> = new Map(
  Object.entries(appRouter._def.procedures as unknown as Record<string, Procedure>)
    .filter(([path, p]) => p._def.type !== "subscription" && !PEOPLE_ONLY.test(path))
    .sort(([a], [b]) => a.localeCompare(b)),
);

function json(status: number, body: unknown, requestId: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body, plainJson), {
    status,
    headers: { "content-type": "application/json", "x-request-id": requestId, "cache-control": "no-store", ...headers },
  });
}

/** What superjson carries on the tRPC endpoint, written as plain JSON (dates are ISO strings by toJSON already). */
function plainJson(_key: string, value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  if (typeof value === "bigint") return value.toString();
  return value;
}

/** The call's input: a query's `?input=<JSON>` or JSON body, a mutation's JSON body; a Response is the refusal. */
async function inputOf(req: Request, type: "query" | "mutation", path: string, maxBodyBytes: number, requestId: string, logTooLarge: ReturnType<typeof tooLargeLog>): Promise<{ input: unknown } | Response> {
  let text: string | null;
  if (req.method === "GET") {
    if (type !== "query") return refuse(405, `${path} changes something: POST it (a JSON body)`, requestId, { allow: "POST" });
    text = new URL(req.url).searchParams.get("input");
    if (text !== null && text.length > maxBodyBytes) {
      logTooLarge(req, 414, maxBodyBytes);
      return refuse(414, `Request input is larger than this console takes (${maxBodyBytes} characters): POST it as JSON`, requestId);
    }
  } else if (req.method === "POST") {
    const mediaType = req.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
    text = await readBodyLimited(req, maxBodyBytes);
    if (text === null) {
      logTooLarge(req, 413, maxBodyBytes);
      return refuse(413, tooLargeMessage(req, REST_ENDPOINT, maxBodyBytes), requestId);
    }
    if (text !== "" && mediaType !== "application/json") return refuse(415, "Send the input as application/json", requestId);
  } else {
    return refuse(405, `Method ${req.method} is not allowed: ${type === "query" ? "GET or POST" : "POST"}`, requestId, { allow: type === "query" ? "GET, POST" : "POST" });
  }
  if (text === null || text === "") return { input: undefined };
  try {
    if (hasPollutingKey(text)) return refuse(400, "Keys __proto__, constructor and prototype are not allowed", requestId);
    return { input: JSON.parse(text) as unknown };
  } catch {
    return refuse(400, "The input is not valid JSON", requestId);
  }
}

/** Calls the procedure at `path` as the caller in `ctx` would through tRPC. */
function invoke(ctx: ReturnType<typeof createContextInner>, path: string, input: unknown): Promise<unknown> {
  let target: unknown = createCaller(ctx);
  for (const part of path.split(".")) target = (target as Record<string, unknown>)[part];
  return (target as (input: unknown) => Promise<unknown>)(input);
}

export function createRestHttpHandler(deps: () => Promise<ConsoleDeps>, options: Partial<Pick<TrpcHttpOptions, "maxBodyBytes" | "tokenRate" | "log">> = {}) {
  const opts = { ...DEFAULT_HTTP_OPTIONS, ...options };
  const throttled = createThrottledLog(opts.log);
  const logTooLarge = tooLargeLog(throttled, REST_ENDPOINT);
  return instrumentRequests("rest", REST_ENDPOINT, appRouter, shedWhenDbDown(async function handle(req: Request): Promise<Response> {
    const requestId = crypto.randomUUID();
    const path = new URL(req.url).pathname.slice(REST_ENDPOINT.length + 1);
    if (path === "openapi.json") {
      if (req.method !== "GET") return refuse(405, "GET the document", requestId, { allow: "GET" });
      return json(200, openApiDocument(), requestId, { "cache-control": "public, max-age=60" });
    }
    const procedure = REST_PROCEDURES.get(path);
    if (!procedure) return refuse(404, `No procedure "${path.slice(0, 100)}": GET ${REST_ENDPOINT}/openapi.json lists them`, requestId);
    const type = procedure._def.type as "query" | "mutation";
    if (!/^Bearer\s/i.test(req.headers.get("authorization") ?? "")) {
      return refuse(401, "The REST API takes an API token: send Authorization: Bearer syt_... (make one under Account → API tokens)", requestId);
    }
    const d = await deps();
    const token = await bearerToken(req, d, limiterFor(d, opts.tokenRate), 1, requestId);
    if (token instanceof Response) return token;
    const read = await inputOf(req, type, path, opts.maxBodyBytes, requestId, logTooLarge);
    if (read instanceof Response) return read;
    const ctx = createContextInner({ ...d, session: null, token, meta: { requestId, sourceIp: sourceIp(req), userAgent: req.headers.get("user-agent") ?? "" } });
    try {
      return json(200, (await invoke(ctx, path, read.input)) ?? null, requestId);
    } catch (err) {
      const error = err instanceof TRPCError ? err : new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause: err });
      const { message, issues } = describeError(error, requestId);
      const status = getHTTPStatusCodeFromError(error);
      return json(status, { error: { code: error.code, message, issues, requestId } }, requestId, status === 429 || status === 503 ? { "retry-after": String(BUSY_RETRY_AFTER_S) } : {});
    }
  }, throttled, REST_ENDPOINT));
}

/** The JSON Schema of a procedure's input (what a client sends), or null when it takes none. */
function inputSchema(procedure: Procedure): Record<string, unknown> | null {
  const [first, ...rest] = procedure._def.inputs;
  if (!first) return null;
  const schema = rest.reduce<z.ZodType>((all, next) => z.intersection(all, next), first);
  const { $schema: _dialect, ...body } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  return body;
}

let document: Record<string, unknown> | undefined;

/** The OpenAPI 3.1 document of the REST API, generated from the procedures' zod schemas (once per process). */
export function openApiDocument(): Record<string, unknown> {
  if (document) return document;
  const errors = Object.fromEntries(
    [
      ["400", "The input is invalid: `error.issues` names each field"],
      ["401", "No valid API token"],
      ["403", "The token's role, read-only flag or limits forbid this"],
      ["404", "Not found (or outside what the token may see)"],
      ["409", "A conflict: a stale revision, a name taken"],
      ["429", "Over the token's rate limit: wait `Retry-After` seconds"],
    ].map(([status, description]) => [status, { description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } }]),
  );
  const paths: Record<string, unknown> = {};
  for (const [path, procedure] of REST_PROCEDURES) {
    const schema = inputSchema(procedure);
    const type = procedure._def.type;
    const base = {
      tags: [path.split(".")[0]],
      summary: `${type === "query" ? "Reads" : "Changes"}: ${path}`,
      security: [{ apiToken: [] }],
      responses: { "200": { description: "The procedure's result", content: { "application/json": { schema: {} } } }, ...errors },
    };
    const post = { ...base, operationId: path, ...(schema ? { requestBody: { required: true, content: { "application/json": { schema } } } } : {}) };
    const get = type === "query" ? { ...base, operationId: `${path}.get`, ...(schema ? { parameters: [{ name: "input", in: "query", required: false, description: "The input as JSON", content: { "application/json": { schema } } }] } : {}) } : undefined;
    paths[`${REST_ENDPOINT}/${path}`] = { post, ...(get ? { get } : {}) };
  }
  document = {
    openapi: "3.1.0",
    info: {
      title: "Switchyard console API",
      version: "1",
      description: "Every procedure of the console, as POST (and GET ?input=<JSON> for reads) with a JSON input. Authenticate with an API token: Authorization: Bearer syt_...",
    },
    paths,
    components: {
      securitySchemes: { apiToken: { type: "http", scheme: "bearer", description: "An API token (syt_...), made under Account → API tokens" } },
      schemas: {
        Error: {
          type: "object",
          properties: {
            error: {
              type: "object",
              properties: {
                code: { type: "string" },
                message: { type: "string" },
                requestId: { type: "string" },
                issues: { type: "array", items: { type: "object", properties: { path: { type: "array", items: { type: ["string", "number"] } }, message: { type: "string" }, severity: { type: "string" } } } },
              },
              required: ["message"],
            },
          },
        },
      },
    },
  };
  return document;
}
