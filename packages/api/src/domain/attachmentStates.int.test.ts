import type { AttachmentState, OperationKind } from "@switchyard/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest } from "../testing";
import { authenticateAgent } from "./hosts";
import { ON_CLAIM, ON_OUTCOME, type OutcomeKind, nextState } from "./attachmentStates";

let t: ApiTest;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let agent: ReturnType<ApiTest["agentCaller"]>;
let hostId: string;
let networkId: string;

beforeAll(async () => {
  t = await setupApiTest();
  const admin = await t.callerAs("admin", "ada");
  operator = await t.callerAs("operator", "otto");
  networkId = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("statenet", "10.78.0.0/24", "10.78.0.1"), comment: "" })).id;
  const { token } = await admin.caller.hosts.createJoinToken({ note: "states", ttlMinutes: 10 });
  const enrolled = await t.agentCaller(null).enroll({ joinToken: token, hostname: "states-1", agentVersion: "test" });
  hostId = enrolled.hostId;
  agent = t.agentCaller(await authenticateAgent(t.db, enrolled.credential));
});
afterAll(() => t?.close());

/** The state each kind of operation starts from in real use. */
const FROM: Record<OperationKind, AttachmentState> = { attach: "pending", reapply: "ready", check: "ready", detach: "ready" };
const KINDS = Object.keys(ON_CLAIM) as OperationKind[];
const OUTCOMES: OutcomeKind[] = ["succeeded", "failed", "retrying"];
let n = 0;

/** An attachment in `from` with one queued operation of `kind` for its latest generation (none other queued). */
async function attachmentWith(kind: OperationKind, from: AttachmentState, generationOffset = 0) {
  const name = `st-${++n}`;
  const { attachment, operation } = await operator.caller.attachments.create({ hostId, networkId, target: { kind: "sandbox", name }, ifName: "eth0", portMappings: [] });
  if (kind === "attach" && generationOffset === 0) return { attachmentId: attachment.id, operationId: operation.id };
  await t.db.operation.update({ where: { id: operation.id }, data: { status: "succeeded", attempt: 1, finishedAt: new Date() } });
  const a = await t.db.attachment.update({ where: { id: attachment.id }, data: { state: from } });
  const op = await t.db.operation.create({ data: { hostId, attachmentId: a.id, kind, generation: a.generation - generationOffset, ...(kind === "reapply" ? { toRevision: a.networkRevision } : {}) } });
  return { attachmentId: a.id, operationId: op.id };
}
const stateOf = async (id: string) => (await t.db.attachment.findUniqueOrThrow({ where: { id } })).state;

describe("the claim and complete statements follow the transition table", () => {
  for (const kind of KINDS) {
    for (const outcome of OUTCOMES) {
      it(`${kind}, ${outcome}: ${FROM[kind]} → ${nextState(FROM[kind], ON_CLAIM[kind])} → ${nextState(nextState(FROM[kind], ON_CLAIM[kind]), ON_OUTCOME[kind][outcome])}`, async () => {
        const { attachmentId, operationId } = await attachmentWith(kind, FROM[kind]);
        const claimed = await agent.claim({ max: 64 });
        expect(claimed.map((c) => c.operationId)).toEqual([operationId]);
        const afterClaim = nextState(FROM[kind], ON_CLAIM[kind]);
        expect(await stateOf(attachmentId)).toBe(afterClaim);
        const answer = await agent.complete({
          operationId,
          attempt: 1,
          outcome: outcome === "succeeded" ? "succeeded" : "failed",
          ...(outcome === "succeeded" ? {} : { error: "boom", retryable: outcome === "retrying" }),
        });
        expect(answer.status).toBe(outcome === "retrying" ? "queued" : outcome);
        expect(await stateOf(attachmentId)).toBe(nextState(afterClaim, ON_OUTCOME[kind][outcome]));
        // Nothing left for the agent (a retry waits for its back-off) before the next case.
        await t.db.operation.updateMany({ where: { attachmentId, status: { in: ["queued", "running"] } }, data: { status: "cancelled" } });
      });
    }
  }

  it.each(KINDS)("an operation of an older generation (%s) moves nothing", async (kind) => {
    const { attachmentId, operationId } = await attachmentWith(kind, "ready", 1);
    expect((await agent.claim({ max: 64 })).map((c) => c.operationId)).toEqual([operationId]);
    expect(await stateOf(attachmentId)).toBe("ready");
    await agent.complete({ operationId, attempt: 1, outcome: "failed", error: "boom" });
    expect(await stateOf(attachmentId)).toBe("ready");
  });
});
