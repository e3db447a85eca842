import { describe, expect, it } from "vitest";
import { type AgentRates, type AgentRefusal, type AgentTicket, createAgentAdmission } from "./agentAdmission";
import type { AgentIdentity } from "./context";
import { createThrottledLog, type LogEntry } from "./throttledLog";

const REAL = "syh_real-credential-of-host-a";
const OTHER = "syh_real-credential-of-host-b";
const hostsByCredential = new Map<string, AgentIdentity>([
  [REAL, { hostId: "host-a", hostName: "a" }],
  [OTHER, { hostId: "host-b", hostName: "b" }],
]);
const lookup = async (bearer: string) => hostsByCredential.get(bearer) ?? null;

/** A frozen clock (no bucket refills), small buckets and small LRUs. */
function setup(rates: Partial<AgentRates> = {}) {
  const logs: LogEntry[] = [];
  const admission = createAgentAdmission({
    rates: { perHost: { perSecond: 1, burst: 2 }, calls: { perSecond: 1, burst: 6 }, perAddress: { perSecond: 1, burst: 3 }, unauthenticated: { perSecond: 1, burst: 1_000_000 }, ...rates },
    maxBatchSize: 20,
    throttled: createThrottledLog((e) => logs.push(e), 10_000, 10_000, () => 0),
    maxKeys: 100,
    now: () => 0,
  });
  const request = (bearer: string | null, path = "agent.heartbeat") => new Request(`http://console/api/agent/${path}`, { method: "POST", headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
  /** One call as the handler makes it: admitted, then authenticated; the refusal's message or the host it acted as. */
  async function call(bearer: string | null, ip = "192.0.2.1", path?: string): Promise<string> {
    const ticket = admission.admit(request(bearer, path), ip);
    if ("status" in ticket) return refusalOf(ticket);
    const authenticated = await admission.authenticate(ticket as AgentTicket, lookup);
    if ("status" in authenticated) return refusalOf(authenticated);
    return authenticated.agent ? `host ${authenticated.agent.hostId}` : "unauthenticated";
  }
  return { admission, call, logs };
}
const refusalOf = (r: AgentRefusal) => `${r.status} ${r.message.split(" (")[0]} retry ${r.retryAfterS}`;
const HOST_429 = "429 This host is calling the console faster than it takes retry 1";
const ADDRESS_429 = "429 This address is calling the console faster than it takes without a known host credential retry 1";

describe("agent admission: who counts as a host, and whose bucket a call is charged to", () => {
  it("charges a made-up bearer to its address, never to a bucket of its own or to the agents' shared one", async () => {
    const { call } = setup();
    const bad = await Promise.all(Array.from({ length: 10 }, (_, i) => call(`syh_made-up-${i}`)));
    expect(bad).toEqual([...Array(3).fill("unauthenticated"), ...Array(7).fill(ADDRESS_429)]);
    // The shared bucket (6) was not touched: both hosts get their burst from another address.
    expect([await call(REAL, "192.0.2.7"), await call(REAL, "192.0.2.7"), await call(OTHER, "192.0.2.8"), await call(OTHER, "192.0.2.8")]).toEqual(["host host-a", "host host-a", "host host-b", "host host-b"]);
  });

  it("gives a credential its host's bucket once it authenticated, there and wherever it calls from", async () => {
    const { call } = setup();
    expect(await call(REAL)).toBe("host host-a"); // first call: the address paid, and the host's bucket too
    expect(await call(REAL, "198.51.100.9")).toBe("host host-a");
    expect(await call(REAL, "203.0.113.5")).toBe(HOST_429);
  });

  it("keeps a looping host's bucket through a flood of made-up bearers from many addresses (bounded LRUs: they never hold a host's slot)", async () => {
    const { call, logs } = setup();
    expect([await call(REAL), await call(REAL), await call(REAL)]).toEqual(["host host-a", "host host-a", HOST_429]);
    // 20 000 distinct bearers from 2 000 addresses: far more than the LRUs hold (100).
    for (let i = 0; i < 20_000; i++) await call(`made-up-${i}`, `10.${(i % 2000) >> 8}.${i % 256}.1`);
    expect(await call(REAL)).toBe(HOST_429);
    expect(await call(OTHER)).toBe("host host-b");
    expect(logs.filter((l) => l.reason === "This host is calling the console faster than it takes")).toEqual([
      expect.objectContaining({ credential: expect.stringMatching(/^[0-9a-f]{12}$/), sourceIp: "192.0.2.1", perSecond: 1, burst: 2 }),
    ]);
  });

  it("forgets a credential that no longer authenticates (revoked, expired): its next calls are its address's again", async () => {
    const { call } = setup({ perAddress: { perSecond: 1, burst: 2 } });
    hostsByCredential.set("syh_soon-revoked", { hostId: "host-r", hostName: "r" });
    expect(await call("syh_soon-revoked", "192.0.2.50")).toBe("host host-r");
    hostsByCredential.delete("syh_soon-revoked");
    expect(await call("syh_soon-revoked", "192.0.2.60")).toBe("unauthenticated"); // charged to host-r's bucket (it was known)
    expect(await call("syh_soon-revoked", "192.0.2.60")).toBe("unauthenticated"); // the address's now
    expect(await call("syh_soon-revoked", "192.0.2.60")).toBe("unauthenticated");
    expect(await call("syh_soon-revoked", "192.0.2.60")).toBe(ADDRESS_429);
  });

  it("holds enrolments (no bearer) to their address and to the enrolment rate", async () => {
    const { call } = setup({ perAddress: { perSecond: 1, burst: 100 }, enrol: { perSecond: 1, burst: 2 } });
    const enrol = (ip: string) => call(null, ip, "agent.enroll");
    expect([await enrol("192.0.2.1"), await enrol("192.0.2.2"), await enrol("192.0.2.3")]).toEqual(["unauthenticated", "unauthenticated", "429 Hosts are enrolling faster than this console takes them retry 1"]);
  });

  it("holds all calls without a known credential together to the unauthenticated rate, apart from the agents'", async () => {
    const { call } = setup({ unauthenticated: { perSecond: 1, burst: 5 } });
    expect(await call(REAL, "192.0.2.9")).toBe("host host-a");
    const flood = await Promise.all(Array.from({ length: 8 }, (_, i) => call(`made-up-${i}`, `10.0.0.${i}`)));
    expect(flood.filter((r) => r === "unauthenticated")).toHaveLength(4);
    expect(flood.filter((r) => r.startsWith("429 Calls without a known host credential"))).toHaveLength(4);
    expect(await call(REAL, "10.0.0.1")).toBe("host host-a");
  });
});
