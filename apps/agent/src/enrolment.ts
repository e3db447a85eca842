import { AGENT_VERSION } from "./config";
import type { ConsolePort } from "./console";
import { type StoredCredential, loadCredential, saveCredential } from "./credential";
import type { Logger } from "./log";

export interface EnrolmentDeps {
  consoleUrl: string;
  dataDir: string;
  hostname: string;
  joinToken?: string | undefined;
  log: Logger;
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
    /** Enrols with the join token unless a credential is stored; throws when neither is there. */
    async enroll(console: Pick<ConsolePort, "enroll">): Promise<void> {
      if (cred) {
        if (deps.joinToken) deps.log.info("already enrolled; the join token is not used", { host: cred.hostName });
        return;
      }
      if (!deps.joinToken) throw new Error(`not enrolled: start once with --join-token (from the console's Hosts page); no credential in ${deps.dataDir}`);
      const enrolled = await console.enroll({ joinToken: deps.joinToken, hostname: deps.hostname, agentVersion: AGENT_VERSION });
      cred = { consoleUrl: deps.consoleUrl, hostId: enrolled.hostId, hostName: enrolled.hostName, credential: enrolled.credential, credentialExpiresAt: enrolled.credentialExpiresAt };
      await saveCredential(deps.dataDir, cred);
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
