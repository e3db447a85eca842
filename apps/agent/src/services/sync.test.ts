import { afterEach, describe, expect, it, vi } from "vitest";
import { recordingLogger, steppingClock, useFakeTime } from "../../test/fakes";
import { createServicesSync } from "./sync";

// The kernel side is the integration tests' (services-sync.int.test.ts); here the transaction only takes time.
const kernel = vi.hoisted(() => ({ duringApply: () => {} }));
vi.mock("@switchyard/dataplane/netlink", () => ({
  createApplier: () => ({
    path: "netlink",
    apply: async () => {
      kernel.duringApply();
      return { path: "netlink", durationMs: 0 };
    },
    close: () => {},
  }),
}));
vi.mock("./routes", () => ({ ensureServiceRoutes: async () => ({ warnings: [] }) }));

afterEach(() => void vi.useRealTimers());

const DESIRED = {
  version: 7,
  family: 4,
  serviceCidrs: ["10.241.0.0/16"],
  services: [{ id: "svcweb", name: "web", vip: "10.241.0.10", ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }], affinity: null, members: [{ address: "10.88.0.11", port: null, weight: 100, state: "active", health: "none", localCidr: null }] }],
};

/** The console's bound on a reported applyMs (packages/api/src/routers/agent.ts, reportServicesApplied). */
const isAcceptedApplyMs = (ms: number | null) => ms === null || (Number.isInteger(ms) && ms >= 0 && ms <= 3_600_000);

describe("services sync", () => {
  it.each([
    ["back", -3600_000],
    ["forward", 2 * 3600_000],
  ])("reports the apply's own duration when the wall clock steps %s an hour or more during it", async (_direction, stepMs) => {
    useFakeTime(vi);
    const { clock, step } = steppingClock();
    kernel.duringApply = () => {
      step(stepMs);
      vi.advanceTimersByTime(40);
    };
    const reports: { version: number; applyMs: number | null; error: string | null }[] = [];
    const sync = createServicesSync({ fetchDesired: async () => DESIRED, report: async (r) => void reports.push(r), families: [4], log: recordingLogger(), clock });
    await sync.wake();
    sync.stop();
    expect(reports).toEqual([{ family: 4, version: 7, applyMs: 40, error: null }]);
    expect(isAcceptedApplyMs(reports[0]!.applyMs)).toBe(true);
  });
});
