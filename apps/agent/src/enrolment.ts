import type { Clock } from "./clock";
import { AGENT_VERSION } from "./config";
import { type ConsolePort, CredentialRefused } from "./console";
import { type StoredCredential, enrolmentKey, forgetEnrolmentKey, loadCredential, saveCredential } from "./credential";
import type { Logger } from "./log";
import { classifyFailure, withRetry } from "./retry";

export interface EnrolmentDeps {
  consoleUrl: string;
  dataDir: string;
  hostname: string;
  joinToken?: string | undefined;
  log: Logger;
  clock: Clock;
}

/**
 * The host credential: loaded from the data dir, obtained once with a join token, replaced when
 * the console asks for a rotation. `credential()` is what every console call presents.
 */
export function createEnrolment(deps: EnrolmentDeps) {
  let cred: StoredCredential | undefined = loadCredential(deps.dataDir);
  return {
    credential: (): string | undefined => cred?.credential,
    get hostName(): string | undefined {
      return cred?.hostName;
    },
    /**
     * Enrols with the join token unless a credential is stored; throws when neither is there.
     * A console that is down, busy (429) or failing (5xx) is tried again with back-off until it
     * answers or `signal` aborts (retry.ts), with the same enrolment key (credential.ts); a refusal (the token unknown, used or expired, or
     * the host name taken) throws CredentialRefused: the agent exits 3.
     */
    async enroll(console: Pick<ConsolePort, "enroll">, signal?: AbortSignal): Promise<void> {
      if (cred) {
        if (deps.joinToken) deps.log.info("already enrolled; the join token is not used", { host: cred.hostName });
        return;
      }
      if (!deps.joinToken) throw new Error(`not enrolled: start once with --join-token (from the console's Hosts page); no credential in ${deps.dataDir}`);
      // The same key on every try, and after a restart: a lost answer is then not "token used".
      const input = { joinToken: deps.joinToken, hostname: deps.hostname, agentVersion: AGENT_VERSION, enrolmentKey: await enrolmentKey(deps.dataDir) };
      let enrolled: Awaited<ReturnType<ConsolePort["enroll"]>>;
      try {
        enrolled = await withRetry(() => console.enroll(input), { name: "enrolment", log: deps.log, clock: deps.clock, ...(signal ? { signal } : {}) });
      } catch (error) {
        if (classifyFailure(error).kind === "transient") throw error; // stopped while retrying
        const refused = new CredentialRefused(`the console refused to enrol this host: ${(error as Error).message}`);
        deps.log.error("stopping: the console refused to enrol this host", { error: refused.message });
        throw refused;
      }
      cred = { consoleUrl: deps.consoleUrl, hostId: enrolled.hostId, hostName: enrolled.hostName, credential: enrolled.credential, credentialExpiresAt: enrolled.credentialExpiresAt };
      await saveCredential(deps.dataDir, cred);
      forgetEnrolmentKey(deps.dataDir);
      deps.log.info("enrolled", { host: enrolled.hostName, hostId: enrolled.hostId });
    },
    /** Swaps in a new credential from the console and stores it durably. */
    async rotate(console: Pick<ConsolePort, "rotateCredential">): Promise<void> {
      if (!cred) return;
      const next = await console.rotateCredential();
      cred = { ...cred, credential: next.credential, credentialExpiresAt: next.credentialExpiresAt };
      await saveCredential(deps.dataDir, cred);
      deps.log.info("host credential rotated", { expiresAt: next.credentialExpiresAt });
    },
  };
}
export type Enrolment = ReturnType<typeof createEnrolment>;
