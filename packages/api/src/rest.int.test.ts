import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appRouter } from "./root";
import { createTrpcHttpHandler } from "./http";
import { replicaMetrics } from "./metrics/replica";
import { createRestHttpHandler } from "./rest";
import { BRIDGE_CONFLIST, serveApi, setupApiTest, type ApiTest } from "./testing";

// Issue 13 §3: the REST API, called as a script in another language would: plain fetch, plain
// JSON, an API token; and its OpenAPI document, generated from the procedures' zod schemas.
let t: ApiTest;
let api: Awaited<ReturnType<typeof serveApi>>;
let token: string;
let operatorName: string;

const rest = (path: string, init: { method?: string; body?: unknown; bearer?: string | null; headers?: Record<string, string> } = {}) =>
  fetch(`${api.url}/api/v1/${path}`, {
    method: init.method ?? "POST",
    headers: {
      ...(init.bearer === null ? {} : { authorization: `Bearer ${init.bearer ?? token}` }),
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });

beforeAll(async () => {
  t = await setupApiTest();
  api = await serveApi(t.deps);
  const operator = await t.callerAs("operator", "rest-op");
  operatorName = operator.user.username;
  token = (await operator.caller.tokens.create({ name: "rest script", scope: "general", role: "operator" })).token;
});
afterAll(async () => {
  await api?.close();
  await t?.close();
});

describe("the REST API", () => {
  it("creates, reads and lists with plain JSON and a token, audited as the token", async () => {
    const created = await rest("networks.create", { body: { text: BRIDGE_CONFLIST("rest-net", "10.82.0.0/24", "10.82.0.1"), comment: "from python" } });
    expect(created.status).toBe(200);
    expect(created.headers.get("content-type")).toBe("application/json");
    const network = (await created.json()) as { id: string; name: string; revision: number };
    expect(network).toMatchObject({ name: "rest-net", revision: 1 });
    expect(await t.db.network.count({ where: { id: network.id } })).toBe(1);
    expect((await t.db.auditEvent.findFirstOrThrow({ where: { action: "networks.create", targetName: "rest-net" } })).actorName).toBe(`${operatorName} (token rest script)`);

    // a read by GET with ?input=<JSON>, and the same by POST
    const got = await rest(`networks.get?input=${encodeURIComponent(JSON.stringify({ id: network.id }))}`, { method: "GET" });
    expect(got.status).toBe(200);
    expect(((await got.json()) as { name: string }).name).toBe("rest-net");
    const [revision] = (await (await rest("networks.revisions", { body: { id: network.id } })).json()) as { number: number; createdAt: string }[];
    expect(revision!.number).toBe(1);
    expect(new Date(revision!.createdAt).toISOString()).toBe(revision!.createdAt); // dates are ISO strings
    const listed = (await (await rest("networks.list", { body: {} })).json()) as { items: { name: string }[] };
    expect(listed.items.map((n) => n.name)).toContain("rest-net");
    // counted in the console's metrics like tRPC calls, under their own endpoint
    const counted = await replicaMetrics().requests.get();
    expect(counted.values.find((v) => v.labels.endpoint === "rest" && v.labels.procedure === "networks.create" && v.labels.status === "200")?.value).toBe(1);
  });

  it("refuses bad input with each field named, and changes nothing", async () => {
    const res = await rest("networks.create", { body: { text: 42 } });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { code: string; message: string; issues: { path: string[] }[]; requestId: string } };
    expect(error.code).toBe("BAD_REQUEST");
    expect(error.issues.map((i) => i.path.join("."))).toEqual(["text"]);
    expect(error.requestId).toBe(res.headers.get("x-request-id"));
    const invalid = await rest("networks.create", { body: { text: '{"cniVersion":"1.0.0","name":"bad name!","plugins":[]}' } });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: { message: string } }).error.message).toMatch(/name/);
    expect(await t.db.network.count({ where: { name: { in: ["bad name!"] } } })).toBe(0);
    expect((await rest("networks.create", { body: undefined, headers: { "content-type": "application/json" } })).status).toBe(400);
    const notJson = await fetch(`${api.url}/api/v1/networks.create`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: "{nope" });
    expect(notJson.status).toBe(400);
    const polluted = await fetch(`${api.url}/api/v1/networks.create`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: '{"__proto__":{"admin":true},"text":"x"}' });
    expect(polluted.status).toBe(400);
  });

  it("says no clearly: no token, a cookie instead, a GET that would change something, an unknown or people-only procedure", async () => {
    const anonymous = await rest("networks.list", { body: {}, bearer: null });
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { message: string } }).error.message).toContain("takes an API token");
    expect((await rest("networks.list", { body: {}, bearer: null, headers: { cookie: "sy_session=whatever" } })).status).toBe(401);
    expect((await rest("networks.list", { body: {}, bearer: "syt_not-a-token" })).status).toBe(401);
    const get = await rest(`networks.create?input=${encodeURIComponent(JSON.stringify({ text: BRIDGE_CONFLIST("rest-get") }))}`, { method: "GET" });
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect(await t.db.network.count({ where: { name: "rest-get" } })).toBe(0);
    expect((await rest("networks.list", { method: "DELETE" })).status).toBe(405);
    expect((await rest("networks.nope", { body: {} })).status).toBe(404);
    expect((await rest("auth.signIn", { body: { username: "x", password: "y" } })).status).toBe(404);
    expect((await rest("events.stream", { method: "GET" })).status).toBe(404);
    const viewerToken = (await (await t.callerAs("viewer", "rest-viewer")).caller.tokens.create({ name: "reader", scope: "general", role: "viewer" })).token;
    const forbidden = await rest("networks.create", { body: { text: BRIDGE_CONFLIST("rest-v") }, bearer: viewerToken });
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as { error: { message: string } }).error.message).toBe("This needs the operator role; you are viewer");
  });

  it("shares each token's rate with the tRPC endpoint: two endpoints do not double it", async () => {
    const { token: busy } = await (await t.callerAs("operator", "rest-busy")).caller.tokens.create({ name: "busy", scope: "general", role: "viewer" });
    // One console's handlers over one deps, with a rate small enough to see: bursts of 2, then one call per 1000 s.
    const deps = { ...t.deps };
    const tokenRate = { perSecond: 0.001, burst: 2 };
    const restHandler = createRestHttpHandler(async () => deps, { tokenRate });
    const trpcHandler = createTrpcHttpHandler(async () => deps, { tokenRate });
    const headers = { authorization: `Bearer ${busy}`, "content-type": "application/json" };
    const viaRest = () => restHandler(new Request("http://console.test/api/v1/networks.list", { method: "POST", headers, body: "{}" })).then((r) => r.status);
    const viaTrpc = () => trpcHandler(new Request("http://console.test/api/trpc/networks.list", { method: "POST", headers: { ...headers, "x-http-method-override": "GET" }, body: JSON.stringify({ json: {} }) })).then((r) => r.status);
    expect([await viaRest(), await viaTrpc(), await viaRest(), await viaTrpc()]).toEqual([200, 200, 429, 429]);
  });

  it("serves an OpenAPI 3.1 document generated from the procedures' own schemas", async () => {
    const res = await fetch(`${api.url}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown>; required?: string[] } }> }; parameters?: unknown[] }>> };
    expect(doc.openapi).toBe("3.1.0");
    // every query and mutation a token may call, no more
    const served = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>)
      .filter(([path, p]) => p._def.type !== "subscription" && !/^(auth|tokens|events)\./.test(path))
      .map(([path]) => `/api/v1/${path}`)
      .sort();
    expect(Object.keys(doc.paths).sort()).toEqual(served);
    // the input of networks.create as its zod schema says it: text required, comment with a default
    const create = doc.paths["/api/v1/networks.create"]!;
    expect(Object.keys(create)).toEqual(["post"]);
    const schema = create.post!.requestBody!.content["application/json"]!.schema;
    expect(schema.required).toEqual(["text"]);
    expect(schema.properties.comment).toMatchObject({ type: "string", maxLength: 500, default: "" });
    // a read is a GET too, its input a JSON query parameter
    expect(Object.keys(doc.paths["/api/v1/networks.get"]!).sort()).toEqual(["get", "post"]);
    expect(doc.paths["/api/v1/networks.get"]!.get!.parameters).toEqual([
      expect.objectContaining({ name: "input", in: "query", content: { "application/json": { schema: expect.objectContaining({ required: ["id"] }) } } }),
    ]);
  });
});
