import type { DesiredServices } from "../src/desired";
import { fixtureDesired, fixtureMember } from "../src/fixtures";

/** The states the incremental path walks through: every kind of change the diff knows. */
export function states(): DesiredServices[] {
  const s0 = fixtureDesired(4);
  const s1 = structuredClone(s0);
  s1.version = 2;
  s1.services[0]!.members[1]!.weight = 300; // weight change
  s1.services[1]!.members.splice(1, 1); // dns member removed
  const s2 = structuredClone(s1);
  s2.version = 3;
  s2.services[0]!.affinity = { timeoutSeconds: 30 }; // set swap
  s2.services.push({ id: "svcapi", name: "api", vip: "10.241.0.20", ports: [{ protocol: "tcp", port: 443, targetPort: 8443 }, { protocol: "udp", port: 443, targetPort: 8443 }], affinity: null, members: [fixtureMember("10.88.0.31", 1), fixtureMember("10.88.0.32", 3, { port: 9443 })] });
  const s3 = structuredClone(s2);
  s3.version = 4;
  s3.services[0]!.affinity = null; // affinity off
  s3.services[1]!.members[0]!.state = "maintenance"; // dns: last member gone → reject
  s3.serviceCidrs.push("10.242.0.0/16");
  const s4 = structuredClone(s3);
  s4.version = 5;
  s4.services[1]!.members[0]!.state = "active"; // dns back
  s4.services[0]!.members.pop(); // web loses its remote member
  const api = s4.services.pop()!; // a whole service goes
  const s5 = structuredClone(s4);
  s5.version = 6;
  s5.services[0]!.affinity = { timeoutSeconds: 600 }; // affinity back on
  api.members[0]!.health = "unhealthy";
  s5.services.push(api); // and comes back, one member out
  s5.services.reverse();
  return [s0, s1, s2, s3, s4, s5];
}
