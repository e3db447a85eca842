import { ProxySettings } from "./proxy/settings";
import { describe, expect, it } from "vitest";
import { DesiredMember, DesiredPort, DesiredService, type DesiredServices } from "./desired";
import { fixtureDesired, fixtureMember as m } from "./fixtures";
import { planCleanup, planSync, sameService } from "./transaction";

// Exact transaction texts, as kube-proxy's proxier tests do. Names are spelled out: a change in
// the hashing scheme must show up here.
const T = "ip switchyard";
const S = "service-OR66AGI5-web/tcp/80";
const L = "member-YJVBUE2B-web/tcp/80__10.88.0.11/8080"; // local member
const R = "member-YJSLOFLI-web/tcp/80__10.89.3.7/8080"; // remote member
const AL = "affinity-YJVBUE2B-web/tcp/80__10.88.0.11/8080";
const AR = "affinity-YJSLOFLI-web/tcp/80__10.89.3.7/8080";

const local = (w = 100) => m("10.88.0.11", w, { localCidr: "10.88.0.0/24" });
const remote = (w = 100) => m("10.89.3.7", w);
const web = (extra: Partial<DesiredService> = {}): DesiredService => ({
  id: "svcweb",
  name: "web",
  vip: "10.241.0.10",
  ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }],
  affinity: null,
  members: [local(), remote()],
  ...extra,
});
const desired = (services: DesiredService[], extra: Partial<DesiredServices> = {}): DesiredServices => ({ version: 1, family: 4, serviceCidrs: ["10.241.0.0/16"], services, ...extra });
const text = (...lines: string[]) => `${lines.join("\n")}\n`;
const cold = () => planSync(null, desired([web()]));

describe("planSync: cold", () => {
  it("rewrites the whole table in one transaction, objects by kind, then name", () => {
    expect(cold().transaction).toBe(
      text(
        `add table ${T} { comment "switchyard-agent: services; do not edit" ; }`,
        `delete table ${T}`,
        `add table ${T} { comment "switchyard-agent: services; do not edit" ; }`,
        `add map ${T} service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }`,
        `add map ${T} no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; }`,
        `add set ${T} vips { type ipv4_addr ; }`,
        `add set ${T} proxy-vips { type ipv4_addr ; }`,
        `add chain ${T} filter-input { type filter hook input priority -110 ; }`,
        `add chain ${T} filter-forward { type filter hook forward priority -110 ; }`,
        `add chain ${T} filter-output { type filter hook output priority -110 ; }`,
        `add chain ${T} filter-output-post-dnat { type filter hook output priority -90 ; }`,
        `add chain ${T} nat-prerouting { type nat hook prerouting priority -100 ; }`,
        `add chain ${T} nat-output { type nat hook output priority -100 ; }`,
        `add chain ${T} nat-postrouting { type nat hook postrouting priority 100 ; }`,
        `add chain ${T} services`,
        `add chain ${T} service-endpoints-check`,
        `add chain ${T} vip-check`,
        `add chain ${T} reject-chain`,
        `add chain ${T} mark-for-masquerade`,
        `add chain ${T} masquerading`,
        `add chain ${T} ${R}`,
        `add chain ${T} ${L}`,
        `add chain ${T} ${S}`,
        `add rule ${T} filter-input ct state new jump service-endpoints-check`,
        `add rule ${T} filter-forward ct state new jump service-endpoints-check`,
        `add rule ${T} filter-forward ct state new jump vip-check`,
        `add rule ${T} filter-output ct state new jump service-endpoints-check`,
        `add rule ${T} filter-output-post-dnat ct state new jump vip-check`,
        `add rule ${T} nat-prerouting jump services`,
        `add rule ${T} nat-output jump services`,
        `add rule ${T} nat-postrouting jump masquerading`,
        `add rule ${T} services ip daddr . meta l4proto . th dport vmap @service-ips`,
        `add rule ${T} service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services`,
        `add rule ${T} vip-check ip daddr @proxy-vips return comment "VIP of the proxy"`,
        `add rule ${T} vip-check ip daddr @vips reject comment "VIP, no such port"`,
        `add rule ${T} vip-check ip daddr 10.241.0.0/16 drop comment "service CIDR, no such VIP"`,
        `add rule ${T} reject-chain reject`,
        `add rule ${T} mark-for-masquerade mark set mark or 0x00002000`,
        `add rule ${T} masquerading mark and 0x00002000 == 0 return`,
        `add rule ${T} masquerading mark set mark xor 0x00002000`,
        `add rule ${T} masquerading masquerade fully-random`,
        `add rule ${T} ${R} jump mark-for-masquerade`,
        `add rule ${T} ${R} meta l4proto tcp dnat to 10.89.3.7:8080`,
        `add rule ${T} ${L} ip saddr 10.88.0.0/24 jump mark-for-masquerade`,
        `add rule ${T} ${L} meta l4proto tcp dnat to 10.88.0.11:8080`,
        `add rule ${T} ${S} numgen random mod 2 vmap { 0 : goto ${L}, 1 : goto ${R} }`,
        `add element ${T} service-ips { 10.241.0.10 . tcp . 80 : goto ${S} }`,
        `add element ${T} vips { 10.241.0.10 }`,
      ),
    );
  });

  it("batches elements per set, at most 1000 per statement", () => {
    const t = planSync(null, fixtureDesired(4)).transaction;
    expect(t).toContain(`add element ${T} vips { 10.241.0.10, 10.241.0.11, 10.241.0.12 }\n`);
    const many = Array.from({ length: 2500 }, (_, i) => web({ id: `s${i}`, name: `s${i}`, vip: `10.241.${i >> 8}.${i & 255}`, members: [] }));
    const lines = planSync(null, desired(many)).transaction.split("\n");
    const vipLines = lines.filter((l) => l.startsWith(`add element ${T} vips `));
    expect(vipLines.map((l) => l.split(", ").length)).toEqual([1000, 1000, 500]);
    expect(lines.filter((l) => l.startsWith(`add element ${T} no-endpoint-services `))).toHaveLength(3);
  });

  it("does not depend on the order services, members and CIDRs are listed in", () => {
    const a = fixtureDesired(4);
    const b = structuredClone(a);
    b.services.reverse();
    for (const s of b.services) s.members.reverse();
    expect(planSync(null, b).transaction).toBe(planSync(null, a).transaction);
    const cidrs = (c: string[]) => planSync(null, { ...a, serviceCidrs: c }).transaction;
    expect(cidrs(["10.241.0.0/16", "10.242.0.0/16"])).toBe(cidrs(["10.242.0.0/16", "10.241.0.0/16"]));
  });
});

describe("planSync: incremental", () => {
  it("a weight change rewrites the one service chain, nothing else", () => {
    const plan = planSync(cold().belief, desired([web({ members: [local(), remote(300)] })]));
    expect(plan.transaction).toBe(text(`add chain ${T} ${S}`, `flush chain ${T} ${S}`, `add rule ${T} ${S} numgen random mod 4 vmap { 0 : goto ${L}, 1-3 : goto ${R} }`));
    expect(plan.deferred).toBeNull();
  });

  it("nothing changed: an empty transaction", () => {
    expect(planSync(cold().belief, desired([web({ members: [remote(), local()] })], { version: 2 })).transaction).toBe("");
  });

  it("a removed member: its chain is flushed now and deleted by the deferred transaction", () => {
    const plan = planSync(cold().belief, desired([web({ members: [local()] })]));
    expect(plan.transaction).toBe(text(`add chain ${T} ${S}`, `flush chain ${T} ${S}`, `flush chain ${T} ${R}`, `add rule ${T} ${S} numgen random mod 1 vmap { 0 : goto ${L} }`));
    expect(plan.deferred).toBe(text(`delete chain ${T} ${R}`));
    expect(plan.belief.staleChains).toEqual([R]);
    expect(planCleanup(plan.belief).belief.staleChains).toEqual([]);
  });

  it("a member that comes back before the deferred delete ran is rewritten and no longer waits for deletion", () => {
    const removed = planSync(cold().belief, desired([web({ members: [local()] })]));
    const back = planSync(removed.belief, desired([web()]));
    expect(back.transaction).toContain(`add chain ${T} ${R}\nflush chain ${T} ${R}\n`);
    expect(back.transaction).toContain(`add rule ${T} ${R} meta l4proto tcp dnat to 10.89.3.7:8080\n`);
    expect(back.deferred).toBeNull();
    expect(back.belief.staleChains).toEqual([]);
  });

  it("the last selectable member gone: the dispatch element becomes a reject element", () => {
    const plan = planSync(cold().belief, desired([web({ members: [m("10.88.0.11", 100, { state: "draining" }), m("10.89.3.7", 0)] })]));
    expect(plan.transaction).toBe(
      text(
        `flush chain ${T} ${R}`,
        `flush chain ${T} ${L}`,
        `flush chain ${T} ${S}`,
        `delete element ${T} service-ips { 10.241.0.10 . tcp . 80 }`,
        `add element ${T} no-endpoint-services { 10.241.0.10 . tcp . 80 comment "web/tcp/80" : goto reject-chain }`,
      ),
    );
    expect(plan.deferred).toBe(text(`delete chain ${T} ${R}`, `delete chain ${T} ${L}`, `delete chain ${T} ${S}`));
  });

  it("affinity on: sets, then the member chains update them and the service chain checks them first", () => {
    const plan = planSync(cold().belief, desired([web({ affinity: { timeoutSeconds: 600 } })]));
    expect(plan.transaction).toBe(
      text(
        `add chain ${T} ${R}`,
        `flush chain ${T} ${R}`,
        `add chain ${T} ${L}`,
        `flush chain ${T} ${L}`,
        `add chain ${T} ${S}`,
        `flush chain ${T} ${S}`,
        `add set ${T} ${AR} { type ipv4_addr ; flags dynamic,timeout ; timeout 600s ; }`,
        `add set ${T} ${AL} { type ipv4_addr ; flags dynamic,timeout ; timeout 600s ; }`,
        `add rule ${T} ${R} jump mark-for-masquerade`,
        `add rule ${T} ${R} update @${AR} { ip saddr }`,
        `add rule ${T} ${R} meta l4proto tcp dnat to 10.89.3.7:8080`,
        `add rule ${T} ${L} ip saddr 10.88.0.0/24 jump mark-for-masquerade`,
        `add rule ${T} ${L} update @${AL} { ip saddr }`,
        `add rule ${T} ${L} meta l4proto tcp dnat to 10.88.0.11:8080`,
        `add rule ${T} ${S} ip saddr @${AL} goto ${L}`,
        `add rule ${T} ${S} ip saddr @${AR} goto ${R}`,
        `add rule ${T} ${S} numgen random mod 2 vmap { 0 : goto ${L}, 1 : goto ${R} }`,
      ),
    );
  });

  it("affinity off: the sets are deleted after every chain naming them is flushed", () => {
    const on = planSync(cold().belief, desired([web({ affinity: { timeoutSeconds: 600 } })]));
    expect(planSync(on.belief, desired([web()])).transaction).toBe(
      text(
        `add chain ${T} ${R}`,
        `flush chain ${T} ${R}`,
        `add chain ${T} ${L}`,
        `flush chain ${T} ${L}`,
        `add chain ${T} ${S}`,
        `flush chain ${T} ${S}`,
        `delete set ${T} ${AR}`,
        `delete set ${T} ${AL}`,
        `add rule ${T} ${R} jump mark-for-masquerade`,
        `add rule ${T} ${R} meta l4proto tcp dnat to 10.89.3.7:8080`,
        `add rule ${T} ${L} ip saddr 10.88.0.0/24 jump mark-for-masquerade`,
        `add rule ${T} ${L} meta l4proto tcp dnat to 10.88.0.11:8080`,
        `add rule ${T} ${S} numgen random mod 2 vmap { 0 : goto ${L}, 1 : goto ${R} }`,
      ),
    );
  });

  it("an affinity timeout change swaps the sets (nft refuses to re-add them with other settings) and rewrites their chains", () => {
    const on = planSync(cold().belief, desired([web({ affinity: { timeoutSeconds: 600 } })]));
    const t = planSync(on.belief, desired([web({ affinity: { timeoutSeconds: 30 } })])).transaction;
    expect(t).toContain(text(`delete set ${T} ${AR}`, `delete set ${T} ${AL}`, `add set ${T} ${AR} { type ipv4_addr ; flags dynamic,timeout ; timeout 30s ; }`, `add set ${T} ${AL} { type ipv4_addr ; flags dynamic,timeout ; timeout 30s ; }`));
    expect(t.indexOf(`flush chain ${T} ${S}`)).toBeLessThan(t.indexOf(`delete set`));
    expect(t).toContain(`add rule ${T} ${S} ip saddr @${AL} goto ${L}\n`);
  });

  it("renders again only the services whose input changed", () => {
    const api = web({ id: "svcapi", name: "api", vip: "10.241.0.20" });
    const first = planSync(null, desired([web(), api]));
    const next = planSync(first.belief, desired([web({ members: [local(), remote(300)] }), api]));
    expect(next.belief.table!.services.get("svcapi")).toBe(first.belief.table!.services.get("svcapi"));
    expect(next.belief.table!.services.get("svcweb")).not.toBe(first.belief.table!.services.get("svcweb"));
  });

  it("a VIP handed from a removed service to a new one: its dispatch element deleted, then added; the vips element untouched", () => {
    const plan = planSync(cold().belief, desired([web({ id: "svcnew", name: "new", members: [local()] })]));
    const t = plan.transaction;
    expect(t).not.toContain("vips");
    expect(t).toContain(`delete element ${T} service-ips { 10.241.0.10 . tcp . 80 }\n`);
    expect(t.indexOf(`delete element ${T} service-ips { 10.241.0.10 . tcp . 80 }`)).toBeLessThan(t.indexOf(`add element ${T} service-ips { 10.241.0.10 . tcp . 80 : goto service-`));
    expect(plan.deferred).toBe(text(`delete chain ${T} ${R}`, `delete chain ${T} ${L}`, `delete chain ${T} ${S}`));
  });

  it("a new service CIDR rewrites vip-check only", () => {
    expect(planSync(cold().belief, desired([web()], { serviceCidrs: ["10.241.0.0/16", "10.242.0.0/16"] })).transaction).toBe(
      text(
        `add chain ${T} vip-check`,
        `flush chain ${T} vip-check`,
        `add rule ${T} vip-check ip daddr @proxy-vips return comment "VIP of the proxy"`,
        `add rule ${T} vip-check ip daddr @vips reject comment "VIP, no such port"`,
        `add rule ${T} vip-check ip daddr 10.241.0.0/16 drop comment "service CIDR, no such VIP"`,
        `add rule ${T} vip-check ip daddr 10.242.0.0/16 drop comment "service CIDR, no such VIP"`,
      ),
    );
  });

  it("IPv6: ip6 table and matches, ':' → '.' in names, [addr]:port in dnat", () => {
    const v6 = planSync(null, fixtureDesired(6));
    const next = structuredClone(fixtureDesired(6));
    next.services[0]!.members[1]!.weight = 100;
    const L6 = "member-6KIH5Z57-web/tcp/80__fd00.88..11/8080";
    const R6 = "member-HCZNL4X5-web/tcp/80__fd00.89..7/8080";
    const S6 = "service-NRTI4Q7P-web/tcp/80";
    expect(v6.transaction).toContain(`add rule ip6 switchyard ${L6} ip6 saddr fd00:88::/64 jump mark-for-masquerade\n`);
    expect(v6.transaction).toContain(`add rule ip6 switchyard ${L6} update @affinity-6KIH5Z57-web/tcp/80__fd00.88..11/8080 { ip6 saddr }\n`);
    expect(v6.transaction).toContain(`add rule ip6 switchyard ${R6} meta l4proto tcp dnat to [fd00:89::7]:8080\n`);
    expect(v6.transaction).toContain(`add element ip6 switchyard service-ips { fd00:241::10 . tcp . 80 : goto ${S6} }\n`);
    expect(planSync(v6.belief, next).transaction).toBe(
      text(
        `add chain ip6 switchyard ${S6}`,
        `flush chain ip6 switchyard ${S6}`,
        `add rule ip6 switchyard ${S6} ip6 saddr @affinity-6KIH5Z57-web/tcp/80__fd00.88..11/8080 goto ${L6}`,
        `add rule ip6 switchyard ${S6} ip6 saddr @affinity-HCZNL4X5-web/tcp/80__fd00.89..7/8080 goto ${R6}`,
        `add rule ip6 switchyard ${S6} numgen random mod 2 vmap { 0 : goto ${L6}, 1 : goto ${R6} }`,
      ),
    );
  });
});

describe("planSync: no services", () => {
  it("deletes the table: safely when unsure, plainly when it is there, not at all when it is absent", () => {
    expect(planSync(null, desired([])).transaction).toBe(text(`add table ${T}`, `delete table ${T}`));
    const gone = planSync(cold().belief, desired([]));
    expect(gone.transaction).toBe(text(`delete table ${T}`));
    expect(gone.belief).toEqual({ family: 4, table: null, staleChains: [] });
    expect(planSync(gone.belief, desired([])).transaction).toBe("");
    expect(planSync(gone.belief, desired([web()])).transaction).toBe(cold().transaction);
  });

  it("refuses a belief of the other family", () => {
    expect(() => planSync(cold().belief, fixtureDesired(6))).toThrow(/belief is IPv4 but the desired state is IPv6/);
  });
});

describe("planSync: compact layout (design §11 option (a))", () => {
  const compact = { layout: "compact" as const };
  const coldCompact = () => planSync(null, desired([web()]), compact);

  it("a port without affinity: a rule per member drawing in turn (no set, no member chain), masquerade from two sets", () => {
    const t = coldCompact().transaction;
    expect(t).not.toContain("member-");
    expect(t).not.toContain(" map {");
    expect(t).toContain(text(`add rule ${T} ${S} meta l4proto tcp numgen random mod 2 < 1 dnat to 10.88.0.11:8080`, `add rule ${T} ${S} meta l4proto tcp dnat to 10.89.3.7:8080`));
    expect(t).toContain(
      text(
        `add rule ${T} masquerading ct status dnat ct original ip daddr @vips ip daddr . meta l4proto . th dport @masquerade-members masquerade fully-random`,
        `add rule ${T} masquerading ct status dnat ct original ip daddr @vips ip daddr . meta l4proto . th dport . ip saddr @masquerade-local masquerade fully-random`,
        `add rule ${T} masquerading mark and 0x00002000 == 0 return`,
      ),
    );
    expect(t).toContain(text(`add element ${T} masquerade-members { 10.89.3.7 . tcp . 8080 }`, `add element ${T} masquerade-local { 10.88.0.11 . tcp . 8080 . 10.88.0.0/24 }`));
  });

  it("a weight change rewrites the service's rules, nothing else", () => {
    expect(planSync(coldCompact().belief, desired([web({ members: [local(), remote(300)] })]), compact).transaction).toBe(
      text(`add chain ${T} ${S}`, `flush chain ${T} ${S}`, `add rule ${T} ${S} meta l4proto tcp numgen random mod 4 < 1 dnat to 10.88.0.11:8080`, `add rule ${T} ${S} meta l4proto tcp dnat to 10.89.3.7:8080`),
    );
  });

  it("draws in turn: member i's rule takes wᵢ of the weight the rules before it left, the last one takes the rest; IPv6 bracketed", () => {
    const three = web({ members: [local(100), remote(200), { ...remote(700), address: "10.89.3.9" }] });
    const t = planSync(null, desired([three]), compact).transaction;
    expect(t).toContain(
      text(
        `add rule ${T} ${S} meta l4proto tcp numgen random mod 10 < 1 dnat to 10.88.0.11:8080`,
        `add rule ${T} ${S} meta l4proto tcp numgen random mod 9 < 2 dnat to 10.89.3.7:8080`,
        `add rule ${T} ${S} meta l4proto tcp dnat to 10.89.3.9:8080`,
      ),
    );
    const v6 = planSync(null, fixtureDesired(6), compact).transaction;
    expect(v6).toMatch(/meta l4proto tcp (numgen random mod \d+ < \d+ )?dnat to \[fd00:[0-9a-f:]+\]:\d+/);
    expect(v6).not.toContain(" map {");
  });

  it("a member shared by two services keeps its masquerade elements while one of them still has it", () => {
    const api = web({ id: "svcapi", name: "api", vip: "10.241.0.20" });
    const two = planSync(null, desired([web(), api]), compact);
    expect(planSync(two.belief, desired([web()]), compact).transaction).toBe(
      text(`flush chain ${T} service-Z2UKAPDK-api/tcp/80`, `delete element ${T} service-ips { 10.241.0.20 . tcp . 80 }`, `delete element ${T} vips { 10.241.0.20 }`),
    );
    const last = planSync(two.belief, desired([api]), compact).transaction;
    expect(last).not.toContain("masquerade-");
    expect(planSync(planSync(two.belief, desired([web()]), compact).belief, desired([api]), compact).transaction).not.toContain("delete element ip switchyard masquerade-");
  });

  it("switching layouts rewrites the table whole", () => {
    expect(planSync(cold().belief, desired([web()]), compact).transaction).toBe(coldCompact().transaction);
  });
});

describe("sameService", () => {
  it("compares every field of the schema (a field added to desired.ts must be added there too)", () => {
    // plane is compared; proxy settings and a member's pool are the proxy's, never in the kernel's table.
    expect(Object.keys(DesiredService.shape).sort()).toEqual(["affinity", "id", "members", "name", "plane", "ports", "proxy", "vip"]);
    expect(Object.keys(DesiredPort.shape).sort()).toEqual(["name", "port", "protocol", "targetPort"]);
    expect(Object.keys(DesiredMember.shape).sort()).toEqual(["address", "health", "localCidr", "pool", "port", "state", "weight"]);
  });

  it("a service moved to the proxy plane is a change, and is then only its VIP in proxy-vips", () => {
    const kernel = web();
    const proxied: DesiredService = { ...web(), plane: "proxy", proxy: ProxySettings.parse({}) };
    expect(sameService(kernel, proxied)).toBe(false);
    // Its pool changing is the proxy's business: the kernel's table does not change.
    const reweighted: DesiredService = { ...proxied, members: proxied.members.map((m) => ({ ...m, weight: 7 })) };
    expect(sameService(proxied, reweighted)).toBe(true);
    const first = planSync(null, desired([kernel]));
    const moved = planSync(first.belief, desired([proxied]));
    expect(moved.transaction).toContain(`add element ${T} proxy-vips { 10.241.0.10 }`);
    expect(moved.transaction).toContain(`delete element ${T} service-ips { 10.241.0.10 . tcp . 80 }`);
    expect(moved.transaction).not.toMatch(/dnat to/);
  });

  it("tells any single change apart", () => {
    const a = web({ affinity: { timeoutSeconds: 600 } });
    expect(sameService(a, structuredClone(a))).toBe(true);
    const changes: ((s: DesiredService) => void)[] = [
      (s) => (s.id = "other"),
      (s) => (s.name = "other"),
      (s) => (s.vip = "10.241.0.99"),
      (s) => (s.affinity = null),
      (s) => (s.affinity = { timeoutSeconds: 601 }),
      (s) => (s.ports[0]!.port = 81),
      (s) => (s.ports[0]!.protocol = "udp"),
      (s) => (s.ports[0]!.targetPort = 1),
      (s) => (s.ports[0]!.name = "http"),
      (s) => s.ports.push({ protocol: "udp", port: 80, targetPort: 8080 }),
      (s) => (s.members[1]!.address = "10.89.3.8"),
      (s) => (s.members[1]!.port = 9000),
      (s) => (s.members[1]!.weight = 5),
      (s) => (s.members[1]!.state = "draining"),
      (s) => (s.members[1]!.health = "unknown"),
      (s) => (s.members[1]!.localCidr = "10.89.3.0/24"),
      (s) => s.members.pop(),
    ];
    for (const change of changes) {
      const b = structuredClone(a);
      change(b);
      expect(sameService(a, b), change.toString()).toBe(false);
    }
  });
});
