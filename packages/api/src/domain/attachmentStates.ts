import type { AttachmentState, OperationKind } from "@switchyard/db";

/**
 * The attachment state machine as the agent's work moves it, in one table. The claim and complete
 * statements (agentWork.ts) carry it out in SQL CASEs (one statement each, for speed on the
 * embedded database); attachmentStates.int.test.ts runs every transition through those very
 * statements and compares with this table, so the two cannot drift. Only an operation of the
 * attachment's latest generation moves it ("same" keeps the state it had).
 */
export type StateChange = AttachmentState | "same";
/** An outcome as the complete statement sees it: failed for good, or failed with attempts left. */
export type OutcomeKind = "succeeded" | "failed" | "retrying";

export const ON_CLAIM: Readonly<Record<OperationKind, StateChange>> = {
  attach: "applying",
  reapply: "applying",
  detach: "detaching",
  // A check looks at a ready attachment without taking it out of ready.
  check: "same",
};

export const ON_OUTCOME: Readonly<Record<OperationKind, Readonly<Record<OutcomeKind, StateChange>>>> = {
  attach: { succeeded: "ready", failed: "failed", retrying: "same" },
  reapply: { succeeded: "ready", failed: "failed", retrying: "same" },
  check: { succeeded: "ready", failed: "failed", retrying: "same" },
  detach: { succeeded: "detached", failed: "failed", retrying: "same" },
};

/** The state after `change` from `from`. */
export function nextState(from: AttachmentState, change: StateChange): AttachmentState {
  return change === "same" ? from : change;
}
