import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@switchyard/db";
import { createContextInner } from "../context";
import { authenticateAgent } from "../domain/hosts";
import { BRIDGE_CONFLIST, setupApiTest, type ApiTest } from "../testing";
import { createCallerFactory } from "../trpc";
import { agentRootRouter } from "./agent";

const createAgentCaller = createCallerFactory(agentRootRouter);

let t: ApiTest;
let admin: Awaited<ReturnType<ApiTest["callerAs"]>>;
let operator: Awaited<ReturnType<ApiTest["callerAs"]>>;
let networkId: string;

beforeAll(async () => {
  t = await setupApiTest();
  admin = await t.callerAs("admin", "ada");
  operator = await t.callerAs("operator", "otto");
  networkId = (await operator.caller.networks.create({ text: BRIDGE_CONFLIST("pollnet", "10.78.0.0/24", "10.78.0.1"), comment: "" })).id;
});
afterAll(() => t?.close());

describe("the agent's long poll", () => {
  it("work queued between the poll's first (empty) claim and its wait wakes it: the poll listens before it claims", async () => {
    const { token } = await admin.caller.hosts.createJoinToken({ note: "poll-gap", ttlMinutes: 10 });
    const enrolled = await t.agentCaller(null).enroll({ joinToken: token, hostname: "poll-gap", agentVersion: "test" });
    const identity = (await authenticateAgent(t.db, enrolled.credential))!;
    // The real database client; its first claim statement lets another request queue work (a
    // real commit and its event) before the claim's answer reaches the poll: the gap, made certain.
    let queued: string | undefined;
    const db = t.db.$extends({
      query: {
        async $queryRaw({ args, query }) {
          const rows = await query(args);
          if (queued === undefined && JSON.stringify(args).includes("switchyard_claim_operations")) {
            queued = "";
            const { operation } = await operator.caller.attachments.create({ hostId: enrolled.hostId, networkId, target: { kind: "netns", name: "poll-gap" }, ifName: "eth0", portMappings: [] });
            queued = operation!.id;
          }
          return rows;
        },
      },
    }) as unknown as Db;
    const agent = createAgentCaller(createContextInner({ ...t.deps, db, session: null, agent: identity })).agent;
    // Without the event the poll would sleep its whole wait (25 s) before claiming again.
    const polled = agent.poll({ max: 4, waitMs: 25_000 });
    const answer = await Promise.race([polled, new Promise<"still waiting">((r) => setTimeout(() => r("still waiting"), 10_000).unref())]);
    expect(queued).toBeTruthy();
    expect(answer === "still waiting" ? answer : answer.map((o) => o.operationId)).toEqual([queued]);
  });
});
