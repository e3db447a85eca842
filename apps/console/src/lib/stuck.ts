/**
 * Stuck: failed for good, or a detach that keeps failing (retrying). Often the config the host
 * cached at ADD is what fails; the way out DELs with the network's current revision instead. The
 * console checks the same before it queues that (isStuck in packages/api/src/domain/attachmentRecovery.ts).
 */
export function isStuck(a: { state: string; lastError: string }): boolean {
  return a.state === "failed" || (a.state === "detaching" && a.lastError !== "");
}
