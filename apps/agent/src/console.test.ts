import { describe, expect, it } from "vitest";
import { trpcError } from "../test/fakes";
import type { AgentClient } from "./client";
import { type CredentialRefused, createConsolePort } from "./console";

/** A client whose every call fails with `error` (only the calls used here). */
function failingClient(error: Error): AgentClient {
  const fail = async () => {
    throw error;
  };
  return { claim: { mutate: fail }, enroll: { mutate: fail }, desired: { query: fail } } as unknown as AgentClient;
}

describe("the console port", () => {
  it("an UNAUTHORIZED answer refuses the credential and is rethrown", async () => {
    const refused: CredentialRefused[] = [];
    const port = createConsolePort(failingClient(await trpcError("UNAUTHORIZED", "This host was revoked")), (e) => void refused.push(e));
    await expect(port.claim(4)).rejects.toThrow("This host was revoked");
    await expect(port.desired()).rejects.toThrow("This host was revoked");
    expect(refused.map((e) => e.message)).toEqual(["This host was revoked", "This host was revoked"]);
  });

  it("other failures (the console down, a bad request) do not", async () => {
    const refused: CredentialRefused[] = [];
    for (const error of [new Error("fetch failed"), await trpcError("BAD_REQUEST")]) {
      const port = createConsolePort(failingClient(error), (e) => void refused.push(e));
      await expect(port.claim(4)).rejects.toThrow();
    }
    expect(refused).toEqual([]);
  });

  it("enrolment is not guarded: a bad join token is an error of the start, not a refused credential", async () => {
    const refused: CredentialRefused[] = [];
    const port = createConsolePort(failingClient(await trpcError("UNAUTHORIZED", "invalid join token")), (e) => void refused.push(e));
    await expect(port.enroll({ joinToken: "syj_x", hostname: "h" })).rejects.toThrow("invalid join token");
    expect(refused).toEqual([]);
  });
});
