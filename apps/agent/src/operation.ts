import { JOB_TEXT_MAX } from "@switchyard/api/schemas";
import { type CniRuntimeOptions, type Spawner, createCniRuntime } from "@switchyard/cni";
import type { ConsolePort } from "./console";
import { type JobLine, OperationPayload, executeOperation } from "./executor";
import type { IntentJournal } from "./intents";
import type { JobLog } from "./joblog";
import type { Logger } from "./log";
import type { Outbox } from "./outbox";
import type { OwnedAttachments } from "./owned";
import { createPluginHold } from "./plugin-hold";
import { type Report, boundError } from "./reports";
import type { Touches } from "./touches";

/** How often a running operation's claim is extended (the console's lease is 60 s). */
export const EXTEND_EVERY_MS = 20_000;

export interface OperationRunnerDeps {
  /** The runtime options every operation shares; each gets its own runtime to stream its plugin lines. */
  runtime: CniRuntimeOptions;
  spawner: Spawner;
  netnsDir: string;
  intents: IntentJournal;
  /** What this agent ADDed: reconcile judges only these (see owned.ts). */
  owned: Pick<OwnedAttachments, "add" | "remove">;
  /** Told of each attachment an operation begins on, before the host changes (reconcile leaves those to its next run). */
  touches?: Pick<Touches, "touch">;
  outbox: Outbox;
  jobLog: JobLog;
  console: Pick<ConsolePort, "extend">;
  log: Logger;
}

/** The refusal sent for a payload that fails the agent's own checks: nothing ran. */
function refusal(raw: unknown, issues: { path: PropertyKey[]; message: string }[]): Report {
  const fence = raw as { operationId: string; attempt: number; attachment?: { id?: string } };
  return { operationId: fence.operationId, attempt: fence.attempt, attachmentId: String(fence.attachment?.id ?? ""), outcome: "failed", error: boundError(`refused by the agent: ${issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`), retryable: false };
}

/**
 * An operation whose work on the host is done and whose outcome is queued; `reported` settles when
 * the console took it (or it is durably queued for the next flush). The host is free meanwhile:
 * a slow console holds back neither reconcile nor the host's other operations.
 */
export interface OperationDone {
  reported: Promise<void>;
}

/**
 * Carries out one claimed operation end to end: re-validates the payload, streams its job lines,
 * keeps its claim alive, runs it (executor.ts) and records the outcome through the outbox. The
 * intent record goes only once the outcome is on disk. Resolves once the outcome is queued (see
 * OperationDone); the claim is kept alive until it is reported.
 */
export function createOperationRunner(deps: OperationRunnerDeps): (raw: unknown) => Promise<OperationDone> {
  return async function runOperation(raw: unknown): Promise<OperationDone> {
    const parsed = OperationPayload.safeParse(raw);
    if (!parsed.success) {
      const report = refusal(raw, parsed.error.issues);
      deps.log.warn("refusing an invalid operation", { operationId: report.operationId, issue: parsed.error.issues[0]?.message });
      await deps.outbox.record(report);
      return { reported: Promise.resolve() };
    }
    const op = parsed.data;
    const say = (l: JobLine) => {
      deps.jobLog.add(op, { ...l, line: l.line.slice(0, JOB_TEXT_MAX), at: new Date() });
      deps.log.info(l.line, { operationId: op.operationId, attempt: op.attempt, stream: l.stream });
    };
    const extendTimer = setInterval(() => void deps.console.extend({ operationId: op.operationId, attempt: op.attempt }).catch(() => {}), EXTEND_EVERY_MS);
    let reported: Promise<void> | undefined;
    try {
      // Plugins start while the intent is flushed and get their config once it is durable (plugin-hold.ts).
      const hold = createPluginHold(deps.runtime.spawner ?? deps.spawner);
      const runtime = createCniRuntime({
        ...deps.runtime,
        spawner: hold.spawner,
        onExec: (e) => {
          deps.runtime.onExec?.(e); // the agent's own observer (metrics)
          if (e.phase === "start") {
            say({ stream: "plugin", line: `${e.plugin} ${e.verb}` });
          } else if (e.phase === "stderr") {
            for (const line of (e.data ?? "").split("\n")) if (line.trim()) say({ stream: "stderr", line: `${e.plugin}: ${line}` });
          } else {
            say({ stream: "plugin", line: `${e.plugin} ${e.verb} exited ${e.code} in ${Math.round(e.durationMs ?? 0)} ms` });
          }
        },
        // What DEL could not do and went past (a plugin it could not run, a cached config it replaced): in the job view too.
        onWarning: (w) => {
          deps.runtime.onWarning?.(w);
          // message is "msg: details" already.
          say({ stream: "agent", line: `warning: ${w.message}` });
        },
      });
      say({ stream: "agent", line: `${op.kind} (attempt ${op.attempt}) of ${op.attachment.containerId}/${op.attachment.ifName} on ${op.attachment.networkName} r${op.attachment.networkRevision}` });
      const attachment = { networkName: op.attachment.networkName, containerId: op.attachment.containerId, ifName: op.attachment.ifName };
      deps.touches?.touch(attachment);
      if (op.kind === "attach") deps.owned.add(attachment);
      const outcome = await executeOperation({ runtime, spawner: deps.spawner, netnsDir: deps.netnsDir, intents: deps.intents, log: deps.log, holdPlugins: hold.until }, op, say);
      if (op.kind === "detach" && outcome.outcome === "succeeded") deps.owned.remove(attachment);
      const report: Report = { operationId: op.operationId, attempt: op.attempt, attachmentId: op.attachment.id, ...outcome, ...(outcome.error === undefined ? {} : { error: boundError(outcome.error) }), lines: await deps.jobLog.take(op) };
      // A crash before the outcome is on disk DELs (outcome unknown); after it, the outcome is re-sent.
      let queued!: () => void;
      const inQueue = new Promise<void>((resolve) => (queued = resolve));
      const delivered = deps.outbox.record(report, () => deps.intents.remove(op.attachment.id, op), () => queued());
      // A queue that cannot be written fails the record: the operation fails as before.
      await Promise.race([inQueue, delivered]);
      reported = delivered
        .then((ok) => void (ok || deps.log.warn("console unreachable: the result is queued", { operationId: op.operationId })))
        .finally(() => clearInterval(extendTimer));
      return { reported };
    } finally {
      if (!reported) clearInterval(extendTimer);
    }
  };
}
