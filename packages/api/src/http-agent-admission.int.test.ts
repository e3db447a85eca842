import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveApi, setupApiTest, type ApiTest } from "./testing";

/**
 * Agent admission (bench/fleet.ts, two replicas): a bearer that is no host's credential used to get
 * a rate bucket of its own, keyed by the string sent, before it was authenticated. A client sending
 * a fresh random bearer each time was never held to a per-host rate, and every such request spent
 * the bucket all agents share: a flood of them answered the real fleet 429. Now a bearer counts as a
 * host only once it has authenticated; until then it is held to its client address's rate, which
 * all agents' shared bucket does not pay for. Loopback only; every loop is bounded in count and time.
 */
let t: ApiTest;
let solo: Awaited<ReturnType<typeof serveApi>>;
let fleet: Awaited<ReturnType<typeof serveApi>>;

beforeAll(async () => {
  t = await setupApiTest();
  // Small rates: 5 calls/s per host and per address; the shared bucket is out of the way here…
  solo = await serveApi(t.deps, 0, { log: () => {}, agentRates: { perHost: { perSecond: 5, burst: 5 }, perAddress: { perSecond: 5, burst: 5 }, calls: { perSecond: 100_000, burst: 100_000 } } });
  // …and small here (15/s for all agents), as one console's share of a fleet is.
  fleet = await serveApi(t.deps, 0, { log: () => {}, agentRates: { perHost: { perSecond: 5, burst: 5 }, perAddress: { perSecond: 5, burst: 5 }, calls: { perSecond: 15, burst: 15 } } });
});
afterAll(async () => {
  await solo?.close();
  await fleet?.close();
  await t?.close();
});

/** A bearer no host holds: shaped like a host credential (a database lookup) or not (none). */
const randomBearer = (i: number) => (i % 2 === 0 ? `syh_${randomBytes(32).toString("base64url")}` : randomBytes(12).toString("hex"));

async function beat(url: string, bearer: string): Promise<{ status: number; retryAfter: string | null }> {
  const send = () => fetch(`${url}/api/agent/agent.heartbeat`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` }, body: JSON.stringify({ json: { agentVersion: "test" } }) });
  // Sent again once when no answer came at all (a kept-alive connection reset on a loaded machine).
  const res = await send().catch(send);
  await res.arrayBuffer();
  return { status: res.status, retryAfter: res.headers.get("retry-after") };
}

describe("bearers that are no host's credential", () => {
  it("are held to their address's rate, not given a fresh bucket each: 401 within it, then 429 with Retry-After", async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    const started = performance.now();
    // 60 requests, each with a bearer never sent before, 20 at a time (at most 10 s): faster than the
    // address's 5/s however slow the machine, which one after another might not be.
    for (let i = 0; i < 60 && performance.now() - started < 10_000; i += 20) {
      for (const answer of await Promise.all(Array.from({ length: 20 }, (_, j) => beat(solo.url, randomBearer(i + j))))) {
        statuses.push(answer.status);
        if (answer.status === 429) retryAfter = answer.retryAfter;
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const unauthorized = statuses.filter((s) => s === 401).length;
    const limited = statuses.filter((s) => s === 429).length;
    expect(unauthorized + limited, `statuses: ${statuses.join(",")}`).toBe(statuses.length);
    // The address's burst and its rate for as long as this ran, no more (before: all 60 were 401).
    expect(unauthorized, `statuses: ${statuses.join(",")}`).toBeLessThanOrEqual(5 + Math.ceil(5 * seconds) + 1);
    expect(limited).toBeGreaterThan(0);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  });

  it("cannot starve a real agent: a flood of them, and the agent's calls all answered 200", async () => {
    const host = await t.enrollHost("admission-real");
    const other = await t.enrollHost("admission-other");
    // Both agents have called this console before, as a running fleet has.
    expect((await beat(fleet.url, host.credential)).status).toBe(200);
    expect((await beat(fleet.url, other.credential)).status).toBe(200);

    const flood: number[] = [];
    const real: number[] = [];
    const started = performance.now();
    const elapsed = () => performance.now() - started;
    // 8 connections of bad bearers back to back until 300 were sent and the agents beat 6 times
    // meanwhile (at least 1.5 s, at most 15 s: this machine may be loaded).
    const busy = () => elapsed() < 15_000 && (elapsed() < 1500 || flood.length < 300 || real.length < 12);
    let sent = 0;
    const attack = Promise.all(
      Array.from({ length: 8 }, async () => {
        while (busy() && sent < 2000) flood.push((await beat(fleet.url, randomBearer(sent++))).status);
      }),
    );
    // Meanwhile each agent beats within its own rate, every 250 ms.
    const agents = (async () => {
      while (busy()) {
        const answers = await Promise.all([beat(fleet.url, host.credential), beat(fleet.url, other.credential)]);
        real.push(...answers.map((a) => a.status));
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    await Promise.all([attack, agents]);

    expect(flood.length).toBeGreaterThanOrEqual(300);
    expect(flood.every((s) => s === 401 || s === 429), `flood statuses: ${[...new Set(flood)].join(",")}`).toBe(true);
    expect(flood.filter((s) => s === 429).length).toBeGreaterThan(flood.length / 2);
    expect(real.length).toBeGreaterThanOrEqual(12);
    expect(real.filter((s) => s !== 200), `agent statuses: ${real.join(",")}`).toEqual([]);
  });

  it("an agent's first call, with a credential this console has not seen yet, is served, and its host's rate then applies", async () => {
    const fresh = await serveApi(t.deps, 0, { log: () => {}, agentRates: { perHost: { perSecond: 5, burst: 5 }, perAddress: { perSecond: 5, burst: 5 } } });
    const host = await t.enrollHost("admission-first");
    const statuses: number[] = [];
    try {
      statuses.push((await beat(fresh.url, host.credential)).status);
      // Then 11 at once: faster than its 5/s however slow the machine.
      statuses.push(...(await Promise.all(Array.from({ length: 11 }, () => beat(fresh.url, host.credential)))).map((a) => a.status));
    } finally {
      await fresh.close();
    }
    // Its burst of 5 (a slow machine may earn one or two more meanwhile), the rest refused by its own bucket.
    expect(statuses[0]).toBe(200);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(5);
    expect(statuses.filter((s) => s === 200).length).toBeLessThan(12);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
  });
});
