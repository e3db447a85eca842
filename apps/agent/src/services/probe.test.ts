import { describe, expect, it } from "vitest";
import { clientCommand, listWhile, lookUntilAttributed, lookUpMissing, MAX_LOOKUPS, ProbeRefused, runProbe, summarize } from "./probe";
import { type ConntrackListing, parseConntrackFlows } from "./probe-conntrack";

const TASK = { id: "p1", vip: "10.96.0.10", protocol: "tcp" as const, port: 80, count: 4, namespace: null };

describe("conntrack flows", () => {
  it("reads the original tuple's source and the reply's source (the member), IPv4 and IPv6", () => {
    const text = [
      "tcp      6 117 TIME_WAIT src=10.70.0.2 dst=10.96.0.10 sport=40001 dport=80 src=10.70.0.11 dst=10.70.0.2 sport=8080 dport=40001 [ASSURED] mark=0 use=1",
      "udp      17 29 src=fd00:70:0:0::2 dst=fd00:96::a sport=5000 dport=53 [UNREPLIED] src=fd00:70::12 dst=fd00:70::2 sport=5353 dport=5000 mark=0 use=1",
      "garbage line",
    ].join("\n");
    expect(parseConntrackFlows(text)).toEqual([
      { src: "10.70.0.2", sport: 40001, member: "10.70.0.11", memberPort: 8080 },
      { src: "fd00:70::2", sport: 5000, member: "fd00:70::12", memberPort: 5353 },
    ]);
  });
});

describe("summarize", () => {
  const out = {
    durationMs: 12.4,
    connections: [
      { localAddress: "10.70.0.2", localPort: 1, outcome: "answered" as const },
      { localAddress: "10.70.0.2", localPort: 2, outcome: "answered" as const },
      { localAddress: "10.70.0.2", localPort: 3, outcome: "answered" as const },
      { localAddress: "", localPort: 0, outcome: "refused" as const, code: "ECONNREFUSED" },
    ],
  };
  it("counts answers per member through conntrack, and what it could not attribute", () => {
    const flows = [
      { src: "10.70.0.2", sport: 1, member: "10.70.0.12", memberPort: 8080 },
      { src: "10.70.0.2", sport: 2, member: "10.70.0.11", memberPort: 8080 },
    ];
    const r = summarize(TASK, out, { status: "listed", flows });
    expect(r).toMatchObject({ sent: 4, answered: 3, refused: 1, timedOut: 0, failed: 0, membersKnown: true, unattributed: 1, durationMs: 12 });
    expect(r.members).toEqual([{ address: "10.70.0.11", port: 8080, count: 1 }, { address: "10.70.0.12", port: 8080, count: 1 }]);
  });
  it("without conntrack: counts only, and says members are unknown", () => {
    const r = summarize(TASK, out, { status: "unknown", reason: "conntrack is not installed" });
    expect(r).toMatchObject({ answered: 3, membersKnown: false, members: [], unattributed: 3 });
    expect(r.notes).toContain("conntrack is not installed");
  });
});

describe("what the runner refuses before anything runs", () => {
  const deps = { claim: async () => ({ probes: [] }), report: async () => undefined, programs: () => true, netnsDir: "/run/netns", log: console as never };
  it("a VIP it does not program, a count out of bounds, sctp, a namespace outside the netns dir", async () => {
    await expect(runProbe(TASK, { ...deps, programs: () => false })).rejects.toThrow(/does not program 10.96.0.10 80\/tcp/);
    await expect(runProbe({ ...TASK, count: 1001 }, deps)).rejects.toThrow(ProbeRefused);
    await expect(runProbe({ ...TASK, protocol: "sctp" }, deps)).rejects.toThrow(/sctp cannot be probed/);
    await expect(runProbe({ ...TASK, vip: "10.96.0.10; rm -rf /" }, deps)).rejects.toThrow(ProbeRefused);
    expect(() => clientCommand({ ...TASK, namespace: { targetKind: "netns", target: "../../proc/1/ns/net" } }, deps)).toThrow(/namespace is refused/);
    expect(() => clientCommand({ ...TASK, namespace: { targetKind: "pid", target: "1" } }, deps)).toThrow(/namespace is refused/);
  });
  it("starts the client in the right place: the services namespace, the host, or an attachment's namespace by nsenter", () => {
    expect(clientCommand(TASK, { ...deps, servicesNetns: "svc-host" })).toEqual(["ip", ["netns", "exec", "svc-host"]]);
    expect(clientCommand(TASK, deps)).toEqual(["env", []]);
    expect(clientCommand({ ...TASK, namespace: { targetKind: "sandbox", target: "web-1" } }, deps)).toEqual(["nsenter", ["--net=/run/netns/web-1", "--"]]);
  });
});

describe("looking at the table until each answer is attributed", () => {
  const flow = (sport: number) => ({ src: "10.70.0.2", sport, member: "10.70.0.11", memberPort: 8080 });
  // A dump that misses entries or fails while the table churns cannot be made on demand: the looks are scripted here,
  // beside services-probe.int.test.ts, which reads a real table.
  const scripted = (...looks: ConntrackListing[]) => {
    let n = 0;
    return { list: async () => looks[Math.min(n++, looks.length - 1)]!, looked: () => n };
  };
  const missingOf = (wanted: number[]) => (l: { flows: { sport: number }[] }) => wanted.filter((p) => !l.flows.some((f) => f.sport === p)).length;

  it("keeps the union of its looks, and stops once nothing is missing", async () => {
    const s = scripted({ status: "listed", flows: [flow(1)] }, { status: "unknown", reason: "conntrack could not be read: EINTR", transient: true }, { status: "listed", flows: [flow(2)] }, { status: "listed", flows: [flow(3)] });
    const listing = await lookUntilAttributed(s.list, missingOf([1, 2]), { pauseMs: 0 });
    expect(listing).toEqual({ status: "listed", flows: [flow(1), flow(2)] });
    expect(s.looked()).toBe(3);
  });
  it("looks at most four times; what none saw stays missing", async () => {
    const s = scripted({ status: "listed", flows: [flow(1)] });
    const listing = await lookUntilAttributed(s.list, missingOf([1, 2]), { pauseMs: 0 });
    expect(s.looked()).toBe(4);
    expect(listing.status === "listed" && missingOf([1, 2])(listing)).toBe(1);
  });
  it("looks while the probe runs, so an entry that expired before it ended still counts", async () => {
    // The table as it changes: connection 1's entry only early on (it closed and expired), 2's only later.
    let t = 0;
    const flowsNow = () => (t < 2 ? [flow(1)] : [flow(2)]);
    const table = async (): Promise<ConntrackListing> => ({ status: "listed", flows: flowsNow() });
    const work = (async () => {
      for (; t < 4; t++) await new Promise((r) => setTimeout(r, 30));
      return "sent";
    })();
    const { result, seen } = await listWhile(work, table, 10);
    expect(result).toBe("sent");
    expect(seen).toContainEqual(flow(1));
    // After the probe only 2 is in the table; with what the looks during it saw, both are attributed.
    expect(missingOf([1, 2])({ flows: flowsNow() })).toBe(1);
    const listing = await lookUntilAttributed(table, missingOf([1, 2]), { pauseMs: 0, seen });
    expect(listing.status === "listed" && missingOf([1, 2])(listing)).toBe(0);
    // A last read that fails keeps what was seen.
    const failing = scripted({ status: "unknown", reason: "conntrack could not be read: timed out", transient: true });
    expect(await lookUntilAttributed(failing.list, missingOf([1]), { pauseMs: 0, seen: [flow(1)] })).toEqual({ status: "listed", flows: [flow(1)] });
  });
  it("a failed read is read again; a missing conntrack is not", async () => {
    const failedOnce = scripted({ status: "unknown", reason: "conntrack could not be read: timed out", transient: true }, { status: "listed", flows: [flow(1)] });
    expect(await lookUntilAttributed(failedOnce.list, missingOf([1]), { pauseMs: 0 })).toEqual({ status: "listed", flows: [flow(1)] });
    const missing = scripted({ status: "unknown", reason: "conntrack is not installed" });
    expect(await lookUntilAttributed(missing.list, missingOf([1]), { pauseMs: 0 })).toMatchObject({ status: "unknown" });
    expect(missing.looked()).toBe(1);
  });
});

describe("looking up, one by one, the connections no dump showed", () => {
  const flow = (sport: number) => ({ src: "10.70.0.2", sport, member: "10.70.0.11", memberPort: 8080 });
  const answered = (sports: number[]) => ({ durationMs: 1, connections: sports.map((p) => ({ localAddress: "10.70.0.2", localPort: p, outcome: "answered" as const })) });
  // The lookup itself (conntrack -G) runs on a real table in services-conntrack.int.test.ts.
  it("asks only for the missing ones, adds what it finds, and leaves the rest unattributed", async () => {
    const asked: number[] = [];
    const get = async (_src: string, sport: number) => (asked.push(sport), sport === 3 ? flow(3) : null);
    const listing = await lookUpMissing(answered([1, 2, 3, 4]), { status: "listed", flows: [flow(1), flow(2)] }, get);
    expect(asked.sort()).toEqual([3, 4]);
    expect(summarize({ ...TASK, count: 4 }, answered([1, 2, 3, 4]), listing)).toMatchObject({ answered: 4, unattributed: 1 });
  });
  it("asks at most MAX_LOOKUPS times, and never without a listing", async () => {
    let asked = 0;
    const get = async () => (asked++, null);
    await lookUpMissing(answered(Array.from({ length: 300 }, (_, i) => i + 1)), { status: "listed", flows: [] }, get);
    expect(asked).toBe(MAX_LOOKUPS);
    asked = 0;
    expect(await lookUpMissing(answered([1]), { status: "unknown", reason: "conntrack is not installed" }, get)).toMatchObject({ status: "unknown" });
    expect(asked).toBe(0);
  });
});
