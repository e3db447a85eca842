/** Badge colour of each state the console shows: host liveness, attachment state, operation status, check result, a deployed network file. */
const TONE = {
  online: "success",
  offline: "warn",
  revoked: "denied",
  pending: "",
  applying: "busy",
  ready: "success",
  failed: "error",
  detaching: "busy",
  detached: "",
  queued: "",
  running: "busy",
  succeeded: "success",
  cancelled: "",
  unused: "success",
  used: "",
  expired: "",
  pass: "success",
  fail: "error",
  unknown: "warn",
  info: "busy",
  deployed: "success",
  drifted: "warn",
  conflict: "error",
  left: "warn",
} as const;

export type BadgeState = keyof typeof TONE;

export function StateBadge({ state, testId }: { state: BadgeState; testId?: string }) {
  return (
    <span className={`badge ${TONE[state]}`} data-testid={testId}>
      {state}
    </span>
  );
}
