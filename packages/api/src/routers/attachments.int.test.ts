import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authenticateAgent } from "../domain/hosts";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest, trpcError } from "../testing";

let t: ApiTest;
let admin: Awaited<ReturnType<ApiTest["callerAs"]>>;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let netA: string;
let netB: string;

beforeAll(async () => {
  t = await setupApiTest();
  admin = await t.callerAs("admin", "ada");
  operator = await t.callerAs("operator", "otto");
  netA = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("net-a", "10.81.0.0/24", "10.81.0.1"), comment: "" })).id;
  netB = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("net-b", "10.82.0.0/24", "10.82.0.1"), comment: "" })).id;
});
afterAll(() => t?.close());

async function enroll(hostname: string, addresses: string[] = []) {
  const { token } = await admin.caller.hosts.createJoinToken({ note: hostname, ttlMinutes: 10 });
  const enrolled = await t.agentCaller(null).enroll({ joinToken: token, hostname, agentVersion: "test" });
  const agent = t.agentCaller(await authenticateAgent(t.db, enrolled.credential));
  if (addresses.length > 0) {
    await agent.heartbeat({
      agentVersion: "",
      inventory: {
        hostname, kernel: "", addresses: addresses.map((address) => ({ ifName: "eth0", address })), plugins: [], cniPath: [], netnsDir: "/run/netns", namespaces: [], confDir: "",
        confFiles: [], cacheDir: "", cachedAttachments: [], ipForward: { v4: null, v6: null }, tools: { nft: false, iptables: false, ip: true }, masquerade: [], networkStatus: [],
      },
    });
  }
  return { hostId: enrolled.hostId, agent };
}

/** What a refused create must leave as it was. */
async function counts() {
  return {
    attachments: await t.db.attachment.count(),
    operations: await t.db.operation.count(),
    audit: await t.db.auditEvent.count({ where: { action: "attachments.create", outcome: "success" } }),
  };
}

type Target = { kind: "netns"; name: string } | { kind: "sandbox"; name?: string } | { kind: "pid"; pid: number };
type Mapping = { hostPort: number; containerPort: number; protocol: "tcp" | "udp"; hostIP?: string };

function attach(hostId: string, networkId: string, target: Target, ifName = "eth0", portMappings: Mapping[] = [], containerId?: string) {
  return operator.caller.attachments.create({ hostId, networkId, target, ifName, portMappings, ...(containerId ? { containerId } : {}) });
}

/** The agent finishes the attachment's queued detach: the attachment becomes detached. */
async function detachFully(h: Awaited<ReturnType<typeof enroll>>, attachmentId: string) {
  const { operation } = await operator.caller.attachments.detach({ id: attachmentId });
  if (!operation) return;
  const claimed = await h.agent.claim({ max: 8 });
  const mine = claimed.find((c) => c.operationId === operation.id)!;
  await h.agent.complete({ operationId: mine.operationId, attempt: mine.attempt, outcome: "succeeded" });
}

/** The agent finishes every queued attach on the host (so a detach needs a DEL). */
async function applyAll(h: Awaited<ReturnType<typeof enroll>>) {
  for (const c of await h.agent.claim({ max: 64 })) await h.agent.complete({ operationId: c.operationId, attempt: c.attempt, outcome: "succeeded", result: { cniVersion: "1.1.0", ips: [] } });
}

describe("one interface name per namespace on a host (issue 10, item 1)", () => {
  it("refuses the same (namespace, ifname) in another network, names the holder and writes nothing", async () => {
    const h = await enroll("iface-1");
    const first = await attach(h.hostId, netA, { kind: "netns", name: "shared" });
    const before = await counts();
    const err = await trpcError(attach(h.hostId, netB, { kind: "netns", name: "shared" }));
    expect(err.code).toBe("CONFLICT");
    expect(err.message).toContain("interface eth0 in namespace shared is already held by shared/eth0 on network net-a");
    // A sandbox of the same name is the same namespace; another container id changes nothing.
    expect((await trpcError(attach(h.hostId, netB, { kind: "sandbox", name: "shared" }, "eth0", [], "other-id"))).code).toBe("CONFLICT");
    expect(await counts()).toEqual(before);
    // Another interface name in that namespace, or the same name elsewhere, is fine.
    await attach(h.hostId, netB, { kind: "netns", name: "shared" }, "eth1");
    await attach(h.hostId, netB, { kind: "netns", name: "elsewhere" });
    // pid targets are their own key: pid 4242's eth0 is not namespace "shared"'s.
    await attach(h.hostId, netA, { kind: "pid", pid: 4242 });
    expect((await trpcError(attach(h.hostId, netB, { kind: "pid", pid: 4242 }))).code).toBe("CONFLICT");
    // On another host the same namespace name is another namespace.
    const other = await enroll("iface-2");
    await attach(other.hostId, netB, { kind: "netns", name: "shared" });
    // Once the holder's DEL has finished, the interface is free.
    await applyAll(h);
    await detachFully(h, first.attachment.id);
    const next = await attach(h.hostId, netB, { kind: "netns", name: "shared" });
    expect(next.attachment).toMatchObject({ networkName: "net-b", target: "shared", ifName: "eth0", state: "pending" });
  });

  it("a detaching attachment still holds its interface until its DEL is done", async () => {
    const h = await enroll("iface-3");
    const first = await attach(h.hostId, netA, { kind: "netns", name: "going" });
    await applyAll(h);
    await operator.caller.attachments.detach({ id: first.attachment.id });
    expect((await t.db.attachment.findUniqueOrThrow({ where: { id: first.attachment.id } })).state).toBe("detaching");
    const err = await trpcError(attach(h.hostId, netB, { kind: "netns", name: "going" }));
    expect(err.code).toBe("CONFLICT");
    expect(err.message).toContain("(detaching)");
  });

  it("of concurrent creates for one interface in several networks exactly one is written (the database refuses the rest)", async () => {
    const h = await enroll("iface-race");
    const nets = [netA, netB];
    for (let round = 0; round < 3; round++) {
      const name = `race-${round}`;
      const before = await counts();
      const settled = await Promise.allSettled(nets.flatMap((n) => [attach(h.hostId, n, { kind: "netns", name }), attach(h.hostId, n, { kind: "sandbox", name }, "eth0", [], `${name}-sb`)]));
      const won = settled.filter((r) => r.status === "fulfilled");
      expect(won).toHaveLength(1);
      for (const r of settled) if (r.status === "rejected") expect((r.reason as TRPCError).code).toBe("CONFLICT");
      const after = await counts();
      expect(after).toEqual({ attachments: before.attachments + 1, operations: before.operations + 1, audit: before.audit + 1 });
    }
  });
});

describe("host ports (issue 10, item 5)", () => {
  it("refuses a taken port by protocol and host IP, names the holder, writes nothing; lists the host's taken ports", async () => {
    const h = await enroll("ports-a", ["192.0.2.10/24", "192.0.2.11/24", "2001:db8::10/64"]);
    const p1 = await attach(h.hostId, netA, { kind: "netns", name: "p1" }, "eth0", [{ hostPort: 8080, containerPort: 80, protocol: "tcp", hostIP: "192.0.2.10" }]);
    expect(p1.attachment.portMappings).toEqual([{ hostPort: 8080, containerPort: 80, protocol: "tcp", hostIP: "192.0.2.10" }]);
    const before = await counts();
    const refused: [Mapping, string][] = [
      [{ hostPort: 8080, containerPort: 81, protocol: "tcp", hostIP: "192.0.2.10" }, "same address"],
      [{ hostPort: 8080, containerPort: 81, protocol: "tcp" }, "no host IP: every address"],
      [{ hostPort: 8080, containerPort: 81, protocol: "tcp", hostIP: "0.0.0.0" }, "0.0.0.0"],
      [{ hostPort: 8080, containerPort: 81, protocol: "tcp", hostIP: "::" }, "::"],
    ];
    for (const [m, why] of refused) {
      const err = await trpcError(attach(h.hostId, netB, { kind: "netns", name: `p-${why.length}` }, "eth0", [{ hostPort: 9999, containerPort: 1, protocol: "udp" }, m]));
      expect(err.code, why).toBe("CONFLICT");
      expect(err.message, why).toContain("host port tcp/");
      expect(err.message, why).toContain("already mapped by p1/eth0 on net-a");
    }
    expect(await counts()).toEqual(before);
    // Another address, another protocol: free.
    await attach(h.hostId, netB, { kind: "netns", name: "p2" }, "eth0", [{ hostPort: 8080, containerPort: 80, protocol: "tcp", hostIP: "192.0.2.11" }]);
    await attach(h.hostId, netB, { kind: "netns", name: "p3" }, "eth0", [{ hostPort: 8080, containerPort: 80, protocol: "udp" }]);
    // A wildcard mapping conflicts with every address on its port.
    await attach(h.hostId, netA, { kind: "netns", name: "p4" }, "eth0", [{ hostPort: 9090, containerPort: 90, protocol: "tcp" }]);
    for (const hostIP of ["192.0.2.11", "2001:db8::10", "0.0.0.0"]) {
      const err = await trpcError(attach(h.hostId, netB, { kind: "netns", name: "p5" }, "eth0", [{ hostPort: 9090, containerPort: 90, protocol: "tcp", hostIP }]));
      expect(err.code, hostIP).toBe("CONFLICT");
      expect(err.message).toContain("already mapped by p4/eth0");
    }
    // Within one request too.
    const twice = await trpcError(attach(h.hostId, netB, { kind: "netns", name: "p6" }, "eth0", [{ hostPort: 7000, containerPort: 1, protocol: "tcp", hostIP: "192.0.2.10" }, { hostPort: 7000, containerPort: 2, protocol: "tcp" }]));
    expect(twice.message).toContain("mapped twice");
    const ports = await operator.caller.hosts.ports({ id: h.hostId });
    expect(ports.map((p) => `${p.protocol}/${p.hostIP || "*"}:${p.hostPort}→${p.containerId}:${p.containerPort}`)).toEqual([
      "tcp/192.0.2.10:8080→p1:80",
      "tcp/192.0.2.11:8080→p2:80",
      "udp/*:8080→p3:80",
      "tcp/*:9090→p4:90",
    ]);
    // A port is free again once its attachment is detached.
    await detachFully(h, p1.attachment.id);
    await attach(h.hostId, netB, { kind: "netns", name: "p7" }, "eth0", [{ hostPort: 8080, containerPort: 80, protocol: "tcp", hostIP: "192.0.2.10" }]);
    expect((await operator.caller.hosts.ports({ id: h.hostId })).filter((p) => p.hostPort === 8080).map((p) => p.containerId)).toEqual(["p7", "p2", "p3"]);
  });

  it("a re-attach of a detached attachment is refused when its port was taken meanwhile", async () => {
    const h = await enroll("ports-b");
    const first = await attach(h.hostId, netA, { kind: "netns", name: "r1" }, "eth0", [{ hostPort: 6000, containerPort: 60, protocol: "tcp" }]);
    await detachFully(h, first.attachment.id);
    await attach(h.hostId, netA, { kind: "netns", name: "r2" }, "eth0", [{ hostPort: 6000, containerPort: 60, protocol: "tcp" }]);
    const before = await counts();
    const err = await trpcError(attach(h.hostId, netA, { kind: "netns", name: "r1" }, "eth0", [{ hostPort: 6000, containerPort: 60, protocol: "tcp" }]));
    expect(err.message).toContain("already mapped by r2/eth0");
    expect(await counts()).toEqual(before);
    expect((await t.db.attachment.findUniqueOrThrow({ where: { id: first.attachment.id } })).state).toBe("detached");
  });

  it("of concurrent creates mapping one host port exactly one is written", async () => {
    const h = await enroll("ports-race", ["192.0.2.20/24"]);
    for (let round = 0; round < 3; round++) {
      const port = 5000 + round;
      const before = await counts();
      const settled = await Promise.allSettled(
        [undefined, "192.0.2.20", undefined, "0.0.0.0"].map((hostIP, i) =>
          attach(h.hostId, i % 2 === 0 ? netA : netB, { kind: "netns", name: `pr-${round}-${i}` }, "eth0", [{ hostPort: port, containerPort: 80, protocol: "tcp", ...(hostIP ? { hostIP } : {}) }]),
        ),
      );
      expect(settled.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      for (const r of settled) if (r.status === "rejected") expect((r.reason as TRPCError).code).toBe("CONFLICT");
      expect(await counts()).toEqual({ attachments: before.attachments + 1, operations: before.operations + 1, audit: before.audit + 1 });
    }
  });
});
