import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { recordingLogger, tempDir } from "../test/fakes";
import { TRPCClientError } from "@trpc/client";
import type { Clock } from "./clock";
import { CredentialRefused } from "./console";
import { createEnrolment } from "./enrolment";

const dirs: { remove(): void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));
const credential = (c: string) => `syh_${c.repeat(43)}`;

function setup(joinToken?: string) {
  const dir = tempDir();
  dirs.push(dir);
  const log = recordingLogger();
  // Sleeps return at once and are recorded: the back-off is checked, not waited for.
  const sleeps: number[] = [];
  const clock: Clock = { now: () => Date.now(), monotonic: () => performance.now(), sleep: async (ms) => void sleeps.push(ms) };
  const make = () => createEnrolment({ consoleUrl: "http://console.test", dataDir: dir.path, hostname: "host-a", joinToken, log, clock });
  return { dir, log, make, sleeps };
}

const console = {
  enroll: async (input: { joinToken: string; hostname: string }) => ({ hostId: "h1", hostName: input.hostname, credential: credential("a"), credentialExpiresAt: new Date("2027-01-01T00:00:00Z") }) as never,
  rotateCredential: async () => ({ credential: credential("b"), credentialExpiresAt: new Date("2027-02-01T00:00:00Z") }) as never,
};

describe("enrolment and the host credential", () => {
  it("without a credential or a join token, says what to do", async () => {
    const s = setup();
    await expect(s.make().enroll(console)).rejects.toThrow(`not enrolled: start once with --join-token (from the console's Hosts page); no credential in ${s.dir.path}`);
  });

  it("enrols once with the join token and stores the credential 0600; the next start uses it", async () => {
    const s = setup("syj_token");
    const first = s.make();
    await first.enroll(console);
    expect(first.credential()).toBe(credential("a"));
    const file = join(s.dir.path, "credential.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, "utf8"))).toMatchObject({ hostId: "h1", hostName: "host-a", credential: credential("a") });
    const again = s.make();
    expect(again.credential()).toBe(credential("a"));
    await again.enroll({ enroll: async () => Promise.reject(new Error("must not enrol twice")) });
    expect(s.log.messages("info")).toContain("already enrolled; the join token is not used");
  });

  it("sends the same enrolment key on every try and after a restart (kept 0600 until the credential is stored, then removed)", async () => {
    const s = setup("syj_token");
    const keys: string[] = [];
    const failing = { enroll: async (input: { enrolmentKey?: string }) => (keys.push(input.enrolmentKey!), Promise.reject(http(502, {}))) };
    const stop = new AbortController();
    // Two failed tries, then the agent "restarts" (a new enrolment over the same data dir).
    let tries = 0;
    await s.make().enroll({ enroll: async (input) => (++tries === 2 && stop.abort(), failing.enroll(input)) }, stop.signal).catch(() => {});
    const keyFile = join(s.dir.path, "enrolment-key");
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    await s.make().enroll({ enroll: async (input) => (keys.push(input.enrolmentKey!), console.enroll(input)) });
    expect(keys.length).toBe(3);
    expect(keys[0]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Set(keys).size).toBe(1);
    expect(() => statSync(keyFile)).toThrow(/ENOENT/);
  });

  it("a console that fails with 500, then 429 with Retry-After, then answers: enrolled, after two logged retries; the waits honour Retry-After", async () => {
    const s = setup("syj_token");
    const answers = [http(500, {}), http(429, { "retry-after": "7" })];
    let calls = 0;
    await s.make().enroll({
      enroll: async (input) => {
        calls++;
        const next = answers.shift();
        if (next) throw next;
        return console.enroll(input);
      },
    });
    expect(calls).toBe(3);
    expect(s.sleeps).toHaveLength(2);
    expect(s.sleeps[0]).toBeLessThan(1000);
    expect(s.sleeps[1]).toBeGreaterThanOrEqual(7000);
    expect(s.log.messages("warn")).toEqual(["enrolment failed; retrying", "enrolment failed; retrying"]);
    expect(s.log.messages("info")).toContain("enrolment succeeded after retrying");
    expect(s.make().credential()).toBe(credential("a"));
  });

  it("a refused join token (401) or a taken host name (409) is not retried: CredentialRefused, so the agent exits 3", async () => {
    for (const status of [401, 409]) {
      const s = setup("syj_token");
      let calls = 0;
      const refusing = s.make().enroll({ enroll: async () => (calls++, Promise.reject(http(status, {}))) });
      await expect(refusing).rejects.toBeInstanceOf(CredentialRefused);
      expect(calls).toBe(1);
      expect(s.sleeps).toEqual([]);
    }
  });

  it("a rotation replaces the credential in memory and on disk", async () => {
    const s = setup("syj_token");
    const e = s.make();
    await e.enroll(console);
    await e.rotate(console);
    expect(e.credential()).toBe(credential("b"));
    expect(s.make().credential()).toBe(credential("b"));
  });
});

/** An error as the tRPC client gives it when the console answered `status`. */
function http(status: number, headers: Record<string, string>): TRPCClientError<never> {
  return new TRPCClientError(`HTTP ${status}`, { meta: { response: new Response(null, { status, headers }) } });
}
