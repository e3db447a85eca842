import { CniName, IfName, NetnsName, OperationPayload } from "@switchyard/api/schemas";
import { parseNetworkConfig, validateContainerId, validateIfName, validateNetworkName } from "@switchyard/cni";
import { CONTAINER_ID_MAX_LENGTH, IFNAME_MAX_BYTES, NETNS_NAME_MAX_LENGTH, NETWORK_NAME_MAX_LENGTH, ifNameProblem } from "@switchyard/cni/names";
import { describe, expect, it } from "vitest";
import { netnsPathOf } from "./targets";

/**
 * The CNI name rules are declared once (packages/cni/src/names.ts); one table of names runs
 * against every consumer — the CNI runtime and config checks, the console's zod schemas and the
 * agent's target checks — so none of them can drift from the others again.
 */
const NAMES = {
  accepted: ["a", "0", "net1", "A-b_c.d", "0abc", "web.v2", "x-"],
  refused: ["", "-a", ".a", "_a", "a/b", "../x", "..", ".", "a b", "a:b", "é", "a\n", "a\u0000", "a*"],
};
const IFNAMES = {
  accepted: ["eth0", "e", "veth.1", "net1-a_b", "a".repeat(15)],
  refused: ["", ".", "..", "a".repeat(16), "eth0/x", "eth 0", "eth:0", "-eth", "_e", "é", "eth0\n"],
};

const accepts = (check: (v: string) => unknown) => (v: string) => {
  try {
    return check(v) !== false;
  } catch {
    return false;
  }
};
const parses = (schema: { safeParse(v: unknown): { success: boolean } }) => (v: string) => schema.safeParse(v).success;
const networkNameParses = (v: string) => {
  const r = parseNetworkConfig(JSON.stringify({ cniVersion: "1.0.0", name: v, plugins: [{ type: "loopback" }] }));
  return r.ok || !r.errors.some((e) => e.path.join(".") === "name");
};
const payloadWith = (attachment: Record<string, unknown>) => ({
  operationId: "op1",
  attempt: 1,
  kind: "attach",
  generation: 1,
  attachment: { id: "att1", containerId: "c1", ifName: "eth0", targetKind: "netns", target: "n1", capabilityArgs: {}, networkName: "net1", networkRevision: 1, ...attachment },
  conflist: {},
});

/** Each consumer of the name rule, with the longest name it takes. */
const NAME_CONSUMERS: [string, (v: string) => boolean, number][] = [
  ["cni validateContainerId", accepts(validateContainerId), CONTAINER_ID_MAX_LENGTH],
  ["cni validateNetworkName", accepts(validateNetworkName), Number.POSITIVE_INFINITY],
  ["cni config check of a network name", networkNameParses, NETWORK_NAME_MAX_LENGTH],
  ["api CniName", parses(CniName), NETWORK_NAME_MAX_LENGTH],
  ["api NetnsName", parses(NetnsName), NETNS_NAME_MAX_LENGTH],
  ["api OperationPayload containerId", (v) => OperationPayload.safeParse(payloadWith({ containerId: v })).success, NETWORK_NAME_MAX_LENGTH],
  ["api OperationPayload networkName", (v) => OperationPayload.safeParse(payloadWith({ networkName: v })).success, NETWORK_NAME_MAX_LENGTH],
  ["agent netns target", accepts((v) => netnsPathOf("netns", v, "/run/netns")), NETNS_NAME_MAX_LENGTH],
];
const IFNAME_CONSUMERS: [string, (v: string) => boolean][] = [
  ["cni validateIfName", accepts(validateIfName)],
  ["cni ifNameProblem", (v) => ifNameProblem(v) === undefined],
  ["api IfName", parses(IfName)],
  ["api OperationPayload ifName", (v) => OperationPayload.safeParse(payloadWith({ ifName: v })).success],
];

describe.each(NAME_CONSUMERS)("the CNI name rule in %s", (_, check, max) => {
  it.each(NAMES.accepted)("accepts %j", (v) => expect(check(v)).toBe(true));
  it.each(NAMES.refused)("refuses %j", (v) => expect(check(v)).toBe(false));
  it(`takes names up to its length limit (${max}) and no longer`, () => {
    if (Number.isFinite(max)) {
      expect(check("a".repeat(max))).toBe(true);
      expect(check("a".repeat(max + 1))).toBe(false);
    } else {
      expect(check("a".repeat(4096))).toBe(true);
    }
  });
});

describe.each(IFNAME_CONSUMERS)("the interface name rule in %s", (_, check) => {
  it.each(IFNAMES.accepted)("accepts %j", (v) => expect(check(v)).toBe(true));
  it.each(IFNAMES.refused)("refuses %j", (v) => expect(check(v)).toBe(false));
  it(`takes ${IFNAME_MAX_BYTES} characters and no more`, () => {
    expect(check("a".repeat(IFNAME_MAX_BYTES))).toBe(true);
    expect(check("a".repeat(IFNAME_MAX_BYTES + 1))).toBe(false);
  });
});

// The console's attachment form and the agent take the same namespace names: the agent used to cap
// them at 64 characters where the console took 128, so such an attachment could only ever fail.
it("the console refuses a namespace name longer than the agent takes", () => {
  const long = "n".repeat(NETNS_NAME_MAX_LENGTH + 1);
  expect(() => netnsPathOf("netns", long, "/run/netns")).toThrow(`invalid namespace name "${long}": at most ${NETNS_NAME_MAX_LENGTH} characters`);
  expect(NetnsName.safeParse(long).success).toBe(false);
});
