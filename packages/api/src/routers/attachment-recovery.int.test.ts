import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authenticateAgent } from "../domain/hosts";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest, trpcError } from "../testing";

// The way out for a stuck attachment (issue 17 item 1): "detach with the current network revision".
let t: ApiTest;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let viewer: Awaited<ReturnType<ApiTest["callerAs"]>>;
let agent: ReturnType<ApiTest["agentCaller"]>;
let hostId: string;
let networkId: string;
let n = 0;

beforeAll(async () => {
  t = await setupApiTest();
  const admin = await t.callerAs("admin", "ada");
  operator = await t.callerAs("operator", "otto");
  viewer = await t.callerAs("viewer", "vic");
  networkId = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("stuck-net", "10.83.0.0/24", "10.83.0.1"), comment: "" })).id;
  const { token } = await admin.caller.hosts.createJoinToken({ note: "h", ttlMinutes: 10 });
  const enrolled = await t.agentCaller(null).enroll({ joinToken: token, hostname: "stuck-host", agentVersion: "test" });
  hostId = enrolled.hostId;
  agent = t.agentCaller(await authenticateAgent(t.db, enrolled.credential));
});
afterAll(() => t?.close());

/** Claims the attachment's next operation and reports `outcome` for it; returns the payload the agent got. */
async function runNext(attachmentId: string, outcome: "succeeded" | "failed", retryable = false) {
  const claimed = await agent.claim({ max: 16 });
  const op = claimed.find((c) => c.attachment.id === attachmentId);
  if (!op) throw new Error(`no operation of ${attachmentId} was claimed`);
  await agent.complete({ operationId: op.operationId, attempt: op.attempt, outcome, ...(outcome === "failed" ? { error: "DEL failed: incompatible CNI versions", retryable } : {}) });
  return op;
}

/** An attachment whose attach succeeded and whose detach then failed for good. */
async function stuckAfterFailedDetach() {
  const { attachment } = await operator.caller.attachments.create({ hostId, networkId, target: { kind: "sandbox", name: `sy-stuck-${++n}` } });
  await runNext(attachment.id, "succeeded");
  await operator.caller.attachments.detach({ id: attachment.id });
  await runNext(attachment.id, "failed");
  return attachment.id;
}

/** A new revision of the network (the fix); returns its number. */
async function fixNetwork(): Promise<number> {
  const net = await operator.caller.networks.get({ id: networkId });
  const updated = await operator.caller.networks.update({ id: networkId, text: BRIDGE_CONFLIST("stuck-net", "10.83.0.0/24", "10.83.0.1").replace('"isGateway": true', '"isGateway": true, "mtu": 1400'), comment: "fix", expectedRevision: net.latestRevision });
  return updated.revision;
}

describe("detach with the current network revision", () => {
  it("sends the network's latest revision with configSource given; the attachment becomes detached; audited", async () => {
    const id = await stuckAfterFailedDetach();
    expect((await operator.caller.attachments.get({ id })).state).toBe("failed");
    const latest = await fixNetwork();
    expect(latest).toBeGreaterThan(1);
    const { operation } = await operator.caller.attachments.detachWithCurrentRevision({ id });
    expect(operation).toMatchObject({ kind: "detach", toRevision: latest, status: "queued", requestedByName: "otto" });
    expect((await operator.caller.attachments.get({ id })).state).toBe("detaching");
    const payload = await runNext(id, "succeeded");
    expect(payload).toMatchObject({ kind: "detach", configSource: "given", attachment: { networkRevision: latest } });
    expect((payload.conflist as { plugins: { mtu?: number }[] }).plugins[0]?.mtu).toBe(1400);
    const after = await operator.caller.attachments.get({ id });
    expect(after).toMatchObject({ state: "detached", present: false, lastError: "" });
    const audit = await t.db.auditEvent.findFirst({ where: { action: "attachments.detachWithCurrentRevision", targetId: id } });
    expect(audit).toMatchObject({ actorName: "otto", outcome: "success", before: expect.objectContaining({ state: "failed", revision: 1 }), after: { present: false, revision: latest, configSource: "given" } });
  });

  it("a plain detach carries no config source (the agent uses the cached config, falling back to the attachment's revision)", async () => {
    const { attachment } = await operator.caller.attachments.create({ hostId, networkId, target: { kind: "sandbox", name: `sy-plain-${++n}` } });
    await runNext(attachment.id, "succeeded");
    await operator.caller.attachments.detach({ id: attachment.id });
    const payload = await runNext(attachment.id, "succeeded");
    expect(payload.kind).toBe("detach");
    expect(payload).not.toHaveProperty("configSource");
    expect(payload.attachment.networkRevision).toBe(attachment.networkRevision);
  });

  it("frees an attachment whose attach failed (present, failed)", async () => {
    const { attachment } = await operator.caller.attachments.create({ hostId, networkId, target: { kind: "sandbox", name: `sy-attfail-${++n}` } });
    await runNext(attachment.id, "failed");
    await operator.caller.attachments.detachWithCurrentRevision({ id: attachment.id });
    expect(await operator.caller.attachments.get({ id: attachment.id })).toMatchObject({ present: false, state: "detaching" });
    expect((await runNext(attachment.id, "succeeded")).configSource).toBe("given");
    expect((await operator.caller.attachments.get({ id: attachment.id })).state).toBe("detached");
  });

  it("replaces a detach that keeps failing (retrying): the queued retry is cancelled, the new one runs", async () => {
    const { attachment } = await operator.caller.attachments.create({ hostId, networkId, target: { kind: "sandbox", name: `sy-retry-${++n}` } });
    await runNext(attachment.id, "succeeded");
    const { operation: first } = await operator.caller.attachments.detach({ id: attachment.id });
    await runNext(attachment.id, "failed", true);
    expect(await operator.caller.attachments.get({ id: attachment.id })).toMatchObject({ state: "detaching", lastError: expect.stringContaining("retrying") });
    const { operation } = await operator.caller.attachments.detachWithCurrentRevision({ id: attachment.id });
    expect((await t.db.operation.findUniqueOrThrow({ where: { id: first!.id } })).status).toBe("cancelled");
    const payload = await runNext(attachment.id, "succeeded");
    expect(payload.operationId).toBe(operation.id);
    expect((await operator.caller.attachments.get({ id: attachment.id })).state).toBe("detached");
  });

  it("refuses an attachment that is not stuck, and changes nothing", async () => {
    const { attachment } = await operator.caller.attachments.create({ hostId, networkId, target: { kind: "sandbox", name: `sy-ready-${++n}` } });
    await runNext(attachment.id, "succeeded");
    const before = { ops: await t.db.operation.count(), audit: await t.db.auditEvent.count({ where: { outcome: "success" } }) };
    const error = await trpcError(operator.caller.attachments.detachWithCurrentRevision({ id: attachment.id }));
    expect(error.code).toBe("CONFLICT");
    expect(error.message).toContain("this one is ready: detach it");
    expect({ ops: await t.db.operation.count(), audit: await t.db.auditEvent.count({ where: { outcome: "success" } }) }).toEqual(before);
    expect((await operator.caller.attachments.get({ id: attachment.id })).state).toBe("ready");
  });

  it("waits for an operation that runs right now", async () => {
    const { attachment } = await operator.caller.attachments.create({ hostId, networkId, target: { kind: "sandbox", name: `sy-run-${++n}` } });
    await runNext(attachment.id, "succeeded");
    await operator.caller.attachments.detach({ id: attachment.id });
    await runNext(attachment.id, "failed", true);
    // The retry is due later; make it due and claim it: it runs now.
    await t.db.operation.updateMany({ where: { attachmentId: attachment.id, status: "queued" }, data: { notBefore: new Date(0) } });
    const claimed = (await agent.claim({ max: 16 })).find((c) => c.attachment.id === attachment.id)!;
    const error = await trpcError(operator.caller.attachments.detachWithCurrentRevision({ id: attachment.id }));
    expect(error.code).toBe("CONFLICT");
    expect(error.message).toContain("running now (attempt 2)");
    await agent.complete({ operationId: claimed.operationId, attempt: claimed.attempt, outcome: "succeeded" });
  });

  it("is the operator's, like detach: a viewer is refused", async () => {
    const id = await stuckAfterFailedDetach();
    const error = await trpcError(viewer.caller.attachments.detachWithCurrentRevision({ id }));
    expect(error.code).toBe("FORBIDDEN");
    expect((await operator.caller.attachments.get({ id })).state).toBe("failed");
  });

  it("agent.currentConfigs: the latest revision of networks with attachments on the agent's host, none other", async () => {
    await operator.caller.networks.create({ text: BRIDGE_CONFLIST("elsewhere-net", "10.84.0.0/24", "10.84.0.1"), comment: "" });
    const latest = (await operator.caller.networks.get({ id: networkId })).latestRevision;
    const configs = await agent.currentConfigs({ networkNames: ["stuck-net", "elsewhere-net", "no-such-net"] });
    expect(configs).toHaveLength(1);
    expect(configs[0]).toMatchObject({ networkName: "stuck-net", revision: latest, conflist: { name: "stuck-net" } });
    const refused = await trpcError(agent.currentConfigs({ networkNames: ["bad name!"] }));
    expect(refused.code).toBe("BAD_REQUEST");
  });

  it("names a missing attachment", async () => {
    const error = await trpcError(operator.caller.attachments.detachWithCurrentRevision({ id: "no-such-attachment" }));
    expect(error.code).toBe("NOT_FOUND");
  });
});
