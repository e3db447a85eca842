import { readdirSync } from "node:fs";
import { join } from "node:path";
import { CompleteInput, JOB_TEXT_MAX } from "@switchyard/api/schemas";
import { inProcessSpawner } from "@switchyard/cni";
import { afterEach, describe, expect, it } from "vitest";
import { recordingLogger, tempDir } from "../test/fakes";
import { createIntentJournal } from "./intents";
import { createJobLog } from "./joblog";
import { createOperationRunner } from "./operation";
import { createOutbox } from "./outbox";
import { type Report, createReportQueue } from "./reports";

const dirs: { remove(): void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

/** A runner over real journal and queue files; the console is a recorder. The real plugins run in agent.int.test.ts. */
function setup(opts: { answer?: Promise<void> } = {}) {
  const dir = tempDir();
  dirs.push(dir);
  const sent: Report[] = [];
  const log = recordingLogger();
  const queue = createReportQueue(dir.path);
  const completeMany = async (o: Report[]) => {
    sent.push(...o);
    await opts.answer;
    return o.map(() => ({ recorded: true, more: false })) as never;
  };
  const outbox = createOutbox({ console: { completeMany: (o) => completeMany(o as Report[]) }, queue, log, onMoreWork: () => {} });
  const jobLog = createJobLog(async () => {}, 60_000);
  const run = createOperationRunner({
    runtime: { pluginDirs: [join(dir.path, "no-plugins")], cacheDir: join(dir.path, "cache") },
    spawner: inProcessSpawner,
    netnsDir: "/run/netns",
    intents: createIntentJournal(dir.path),
    owned: { add: () => {}, remove: () => {} },
    outbox,
    jobLog,
    console: { extend: async () => ({}) as never },
    log,
  });
  return { dir, run, sent, log, jobLog };
}

const payload = (o: Record<string, unknown> = {}) => ({
  operationId: "op1",
  attempt: 1,
  kind: "attach",
  generation: 1,
  attachment: { id: "att1", containerId: "c1", ifName: "eth0", targetKind: "sandbox", target: "sy-1", capabilityArgs: {}, networkName: "net1", networkRevision: 1 },
  conflist: { cniVersion: "1.0.0", name: "net1", plugins: [{ type: "bridge", ipam: {} }] },
  ...o,
});

describe("running one operation", () => {
  it("resolves once its outcome is queued, before the console answers; `reported` settles with the answer", async () => {
    let answer!: () => void;
    const s = setup({ answer: new Promise<void>((r) => (answer = r)) });
    const done = await s.run(payload());
    // Sent and queued (a crash now re-sends it); the console has not answered.
    expect(s.sent).toHaveLength(1);
    expect(readdirSync(join(s.dir.path, "reports"))).toHaveLength(1);
    let reported = false;
    void done.reported.then(() => (reported = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(reported).toBe(false);
    answer();
    await done.reported;
    expect(readdirSync(join(s.dir.path, "reports"))).toEqual([]);
    s.jobLog.stop();
  });

  it("refuses a payload that fails the agent's own checks: the refusal is reported, nothing is journalled or run", async () => {
    const s = setup();
    await s.run(payload({ attachment: { ...payload().attachment, capabilityArgs: { portMappings: [{ hostPort: 0, containerPort: 80, protocol: "tcp" }] } } }));
    expect(s.sent).toHaveLength(1);
    expect(s.sent[0]).toMatchObject({ operationId: "op1", attempt: 1, attachmentId: "att1", outcome: "failed", retryable: false });
    expect(s.sent[0]!.error).toMatch(/^refused by the agent: attachment\.capabilityArgs\.portMappings\.0\.hostPort: /);
    expect(s.log.messages("warn")).toEqual(["refusing an invalid operation"]);
    expect(readdirSync(s.dir.path).sort()).toEqual(["reports"]);
    expect(readdirSync(join(s.dir.path, "reports"))).toEqual([]);
  });

  it("refuses ids the CNI rules forbid with the console's own schema, before anything runs or is journalled", async () => {
    const s = setup();
    await s.run(payload({ attachment: { ...payload().attachment, containerId: "../../etc" } }));
    expect(s.sent).toHaveLength(1);
    expect(s.sent[0]).toMatchObject({ operationId: "op1", attachmentId: "att1", outcome: "failed", retryable: false });
    expect(s.sent[0]!.error).toMatch(/^refused by the agent: attachment\.containerId: must start with a letter or digit/);
    expect(readdirSync(s.dir.path).sort()).toEqual(["reports"]);
    expect(readdirSync(join(s.dir.path, "reports"))).toEqual([]);
    s.jobLog.stop();
  });

  // The console requires an IP as a port mapping's host IP; the agent used to take any string.
  it.each(["localhost", "eth0", "1.2.3", "10.0.0.256", "0.0.0.0 ", "::g"])("refuses a port mapping whose host IP %j is not an IP, and runs nothing", async (hostIP) => {
    const s = setup();
    await s.run(payload({ attachment: { ...payload().attachment, capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp", hostIP }] } } }));
    expect(s.sent).toHaveLength(1);
    expect(s.sent[0]).toMatchObject({ operationId: "op1", attachmentId: "att1", outcome: "failed", retryable: false });
    expect(s.sent[0]!.error).toMatch(/^refused by the agent: attachment\.capabilityArgs\.portMappings\.0\.hostIP: /);
    expect(s.log.messages("warn")).toEqual(["refusing an invalid operation"]);
    expect(readdirSync(s.dir.path).sort()).toEqual(["reports"]);
    expect(readdirSync(join(s.dir.path, "reports"))).toEqual([]);
    s.jobLog.stop();
  });

  // The console refuses an outcome whose error is over its limit: a long refusal would never be recorded.
  it("keeps a long refusal within what the console's CompleteInput takes", async () => {
    const s = setup();
    const portMappings = Array.from({ length: 64 }, () => ({ hostPort: 0, containerPort: 0, protocol: "icmp", hostIP: "not an ip" }));
    await s.run(payload({ attachment: { ...payload().attachment, capabilityArgs: { portMappings } } }));
    expect(s.sent).toHaveLength(1);
    const { attachmentId, ...outcome } = s.sent[0]!;
    expect(attachmentId).toBe("att1");
    expect(outcome.error).toMatch(/^refused by the agent: attachment\.capabilityArgs\.portMappings\.0\.hostPort: /);
    expect(outcome.error!.length).toBe(JOB_TEXT_MAX);
    expect(CompleteInput.safeParse(outcome).error?.issues).toBeUndefined();
    s.jobLog.stop();
  });

  it("refuses capability args other than port mappings", async () => {
    const s = setup();
    await s.run(payload({ attachment: { ...payload().attachment, capabilityArgs: { bandwidth: { ingressRate: 1 } } } }));
    expect(s.sent[0]).toMatchObject({ outcome: "failed", retryable: false });
    expect(s.sent[0]!.error).toMatch(/^refused by the agent: attachment\.capabilityArgs: /);
    expect(readdirSync(s.dir.path).sort()).toEqual(["reports"]);
    s.jobLog.stop();
  });
});
