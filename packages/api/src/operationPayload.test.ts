import { describe, expect, it } from "vitest";
import { CreateAttachmentInput, OperationPayload } from "./schemas";

const payload = (hostIP?: string) => ({
  operationId: "op1",
  attempt: 1,
  kind: "attach",
  generation: 1,
  attachment: {
    id: "att1",
    containerId: "c1",
    ifName: "eth0",
    targetKind: "sandbox",
    target: "sy-1",
    capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp", ...(hostIP === undefined ? {} : { hostIP }) }] },
    networkName: "net1",
    networkRevision: 1,
  },
  conflist: { cniVersion: "1.0.0", name: "net1", plugins: [] },
});
const create = (hostIP: string) => ({ hostId: "h1", networkId: "n1", target: { kind: "sandbox" }, portMappings: [{ hostPort: 8080, containerPort: 80, hostIP }] });

// The console (CreateAttachmentInput) and the agent (OperationPayload) share PortMapping: what one accepts, so does the other.
describe("a port mapping's host IP, as the console and the agent see it", () => {
  it.each(["0.0.0.0", "::", "127.0.0.1", "10.1.2.3", "fd00::1"])("both accept %j", (hostIP) => {
    expect(CreateAttachmentInput.safeParse(create(hostIP)).success).toBe(true);
    expect(OperationPayload.safeParse(payload(hostIP)).success).toBe(true);
  });

  it.each(["localhost", "eth0", "1.2.3", "10.0.0.256", "", "::g"])("both refuse %j", (hostIP) => {
    expect(CreateAttachmentInput.safeParse(create(hostIP)).success).toBe(false);
    const parsed = OperationPayload.safeParse(payload(hostIP));
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(["attachment", "capabilityArgs", "portMappings", 0, "hostIP"]);
  });

  it("accepts a mapping without a host IP", () => {
    expect(OperationPayload.safeParse(payload()).success).toBe(true);
  });
});

// The way out for a stuck attachment (issue 17): a detach that DELs with the console's config only.
describe("a payload's config source", () => {
  const detach = (configSource: unknown, kind = "detach") => ({ ...payload(), kind, configSource });

  it.each(["cached", "given"])("a detach accepts %j", (source) => {
    expect(OperationPayload.parse(detach(source)).configSource).toBe(source);
  });

  it("is absent unless sent (the agent then uses the cached config with its fallback)", () => {
    expect(OperationPayload.parse(payload()).configSource).toBeUndefined();
  });

  it.each(["attach", "check", "reapply"])("a %s carrying one is refused, naming the field", (kind) => {
    const parsed = OperationPayload.safeParse({ ...detach("given", kind), previous: { networkRevision: 1, conflist: {} } });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => [i.path.join("."), i.message])).toEqual([["configSource", "only a detach chooses its config source"]]);
  });

  it.each(["latest", "", 1, null])("an unknown source %j is refused", (source) => {
    const parsed = OperationPayload.safeParse(detach(source));
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(["configSource"]);
  });
});
