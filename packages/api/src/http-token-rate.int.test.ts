import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTrpcHttpHandler } from "./http";
import { type ApiTest, setupApiTest } from "./testing";

// Issue 13 §1: rate limits per API token, a clear 429 with Retry-After; other tokens and browser
// sessions are not charged for it.
let t: ApiTest;
let handle: (req: Request) => Promise<Response>;
let first: string;
let second: string;
let third: string;

const query = (bearer: string | null, calls = 1) => {
  const paths = Array.from({ length: calls }, () => "services.registrations").join(",");
  const input = JSON.stringify(Object.fromEntries(Array.from({ length: calls }, (_, i) => [i, { json: { service: "web" } }])));
  const url = `http://127.0.0.1/api/trpc/${paths}?${calls > 1 ? `batch=1&input=${encodeURIComponent(input)}` : `input=${encodeURIComponent(JSON.stringify({ json: { service: "web" } }))}`}`;
  return handle(new Request(url, { headers: bearer === null ? {} : { authorization: `Bearer ${bearer}` } }));
};

beforeAll(async () => {
  t = await setupApiTest();
  // One call back every 2 s: a loaded machine's request times cannot refill a bucket within a test step.
  handle = createTrpcHttpHandler(async () => t.deps, { tokenRate: { perSecond: 0.5, burst: 3 } });
  const admin = await t.callerAs("admin", "rate-admin");
  const operator = await t.callerAs("operator", "rate-op");
  await admin.caller.services.setCidrs({ cidrs: ["10.96.0.0/16"] });
  await operator.caller.services.create({ name: "web", spec: { ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }] } });
  first = (await operator.caller.tokens.create({ name: "ci one", scope: "registrar" })).token;
  second = (await operator.caller.tokens.create({ name: "ci two", scope: "registrar" })).token;
  third = (await operator.caller.tokens.create({ name: "ci three", scope: "registrar" })).token;
});
afterAll(async () => {
  await t?.close();
});

describe("API token rate limits over HTTP", () => {
  it("lets a token's burst through, then answers 429 with Retry-After and a message naming the token and the limit", async () => {
    const answers = await Promise.all(Array.from({ length: 4 }, () => query(first)));
    expect(answers.map((r) => r.status).sort()).toEqual([200, 200, 200, 429]);
    const refused = answers.find((r) => r.status === 429)!;
    expect(refused.headers.get("retry-after")).toBe("2");
    const body = (await refused.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(/API token "ci one" is over its rate limit \(0\.5 calls\/s, bursts of 3; a batch counts each call\): retry after 2 s/);
    // another token has its own bucket
    expect((await query(second)).status).toBe(200);
    // after the wait it says, the token works again
    await new Promise((r) => setTimeout(r, 1000 * Number(refused.headers.get("retry-after"))));
    expect((await query(first)).status).toBe(200);
  });

  it("charges a batch each call it holds", async () => {
    expect((await query(third, 3)).status).toBe(200);
    expect((await query(third, 1)).status).toBe(429);
  });

  it("an invalid token is a 401 before any bucket, and a browser without a token is not limited by it", async () => {
    expect((await query("syt_not-a-real-token")).status).toBe(401);
    const anonymous = await Promise.all(Array.from({ length: 6 }, () => query(null)));
    expect(anonymous.every((r) => r.status !== 429)).toBe(true);
  });
});
