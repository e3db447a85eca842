import type { DesiredMember, DesiredService, DesiredServices } from "./desired";

/** The design's §3 model (web with affinity, dns with a draining member, empty), for tests and the benchmark. */

export function fixtureMember(address: string, weight: number, extra: Partial<DesiredMember> = {}): DesiredMember {
  return { address, port: null, weight, state: "active", health: "none", localCidr: null, ...extra };
}

export function fixtureDesired(family: 4 | 6 = 4, extra: { services?: DesiredService[] } = {}): DesiredServices {
  if (family === 6) {
    return {
      version: 1,
      family: 6,
      serviceCidrs: ["fd00:241::/112"],
      services: extra.services ?? [
        {
          id: "svcweb6",
          name: "web",
          vip: "fd00:241::10",
          ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }],
          affinity: { timeoutSeconds: 600 },
          members: [fixtureMember("fd00:88::11", 100, { localCidr: "fd00:88::/64" }), fixtureMember("fd00:89::7", 300)],
        },
      ],
    };
  }
  return {
    version: 1,
    family: 4,
    serviceCidrs: ["10.241.0.0/16"],
    services: extra.services ?? [
      {
        id: "svcweb",
        name: "web",
        vip: "10.241.0.10",
        ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }],
        affinity: { timeoutSeconds: 600 },
        members: [
          fixtureMember("10.88.0.11", 100, { localCidr: "10.88.0.0/24" }),
          fixtureMember("10.88.0.12", 200, { localCidr: "10.88.0.0/24" }),
          fixtureMember("10.89.3.7", 700),
        ],
      },
      {
        id: "svcdns",
        name: "dns",
        vip: "10.241.0.11",
        ports: [{ protocol: "udp", port: 53, targetPort: 5353 }],
        affinity: null,
        members: [
          fixtureMember("10.88.0.21", 500, { localCidr: "10.88.0.0/24" }),
          fixtureMember("10.88.0.22", 300, { localCidr: "10.88.0.0/24" }),
          fixtureMember("10.88.0.23", 250, { localCidr: "10.88.0.0/24", state: "draining" }),
        ],
      },
      { id: "svcempty", name: "empty", vip: "10.241.0.12", ports: [{ protocol: "tcp", port: 8080, targetPort: 8080 }], affinity: null, members: [] },
    ],
  };
}
