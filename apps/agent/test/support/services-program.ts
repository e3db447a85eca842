import type { TestConsole } from "../harness";
import { waitFor } from "../wait";
import type { BackendBench } from "./backends";
import type { ServicesAgent } from "./services-agent";

export type MemberState = "active" | "draining" | "maintenance";

export interface ProgramOptions {
  /** Update this service (its next revision) instead of creating one. */
  id?: string;
  name: string;
  vip: string;
  protocol?: "tcp" | "udp";
  port?: number;
  affinityTimeoutSeconds?: number;
  /** Member states by backend name (active when absent). */
  states?: Record<string, MemberState>;
  /** Backends left out of the pool. */
  without?: string[];
  /** Member weights by backend name (100 when absent). */
  weights?: Record<string, number>;
  /** More of the spec (a data plane, proxy settings, a health check). */
  spec?: Record<string, unknown>;
}

/**
 * Creates or updates a service whose manual members are the bench's backends on the agent's host
 * (their IPv4 addresses, or IPv6 with `family: 6`), then waits until the host applied the
 * console's version as of that edit (read after it, so it covers it), and fails on an apply error.
 */
export function createServiceProgrammer(c: TestConsole, bench: () => BackendBench, agent: () => ServicesAgent, family: 4 | 6 = 4) {
  const revisions = new Map<string, number>();
  return async function program(o: ProgramOptions): Promise<string> {
    const { operator } = c;
    const spec = {
      ports: [{ protocol: o.protocol ?? "tcp", port: o.port ?? 80, targetPort: bench().backends[0]!.port }],
      affinityTimeoutSeconds: o.affinityTimeoutSeconds ?? null,
      manualMembers: bench()
        .backends.filter((b) => !o.without?.includes(b.name))
        .map((b) => ({ address: family === 6 ? b.address6! : b.address, hostId: agent().hostId, state: o.states?.[b.name] ?? ("active" as const), weight: o.weights?.[b.name] ?? 100 })),
      ...o.spec,
    };
    let id = o.id;
    if (id === undefined) {
      id = (await operator.caller.services.create({ name: o.name, vip: o.vip, spec })).id;
      revisions.set(id, 1);
    } else {
      await operator.caller.services.update({ id, expectedRevision: revisions.get(id)!, spec });
      revisions.set(id, revisions.get(id)! + 1);
    }
    const serviceId = id;
    const target = (await operator.caller.services.get({ id: serviceId })).generation;
    const row = await waitFor(`the host to apply ${o.name} (version ${target})`, async () => {
      const h = (await operator.caller.services.get({ id: serviceId })).hosts.find((x) => x.hostId === agent().hostId);
      return (h?.appliedGeneration ?? 0) >= target ? h : undefined;
    }, 30_000);
    if (row.error !== "") throw new Error(`the host failed to apply ${o.name}: ${row.error}`);
    return serviceId;
  };
}
