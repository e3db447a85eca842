import { TRPCClientError } from "@trpc/client";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { recordingLogger } from "../test/fakes";
import { ConsoleHttpError, ConsoleTimeoutError } from "./client";
import { CredentialRefused } from "./console";
import { RETRY_CAP_MS, backoffMs, classifyFailure, parseRetryAfter, retryDelayMs, withRetry } from "./retry";

const answered = (status: number, headers: Record<string, string> = {}) => new TRPCClientError(`HTTP ${status}`, { meta: { response: new Response(null, { status, headers }) } });

describe("classifyFailure", () => {
  it("retries what may pass (no answer, a timeout, 5xx, 429) and nothing else", () => {
    expect(classifyFailure(new TRPCClientError("fetch failed")).kind).toBe("transient");
    expect(classifyFailure(new TypeError("fetch failed")).kind).toBe("transient");
    expect(classifyFailure(new ConsoleTimeoutError("agent.heartbeat", 30_000)).kind).toBe("transient");
    for (const status of [500, 502, 503, 504, 429]) expect(classifyFailure(answered(status)).kind).toBe("transient");
    expect(classifyFailure(answered(401)).kind).toBe("refused");
    expect(classifyFailure(new CredentialRefused("revoked")).kind).toBe("refused");
    for (const status of [400, 403, 404, 409, 413, 415]) expect(classifyFailure(answered(status)).kind).toBe("rejected");
  });

  it("reads the status and Retry-After of an answer that is not the console's (a load balancer's page)", () => {
    const page = new TRPCClientError("fetch failed", { cause: new ConsoleHttpError(503, "4", "<html>busy</html>") });
    expect(classifyFailure(page)).toEqual({ kind: "transient", status: 503, retryAfterMs: 4000 });
    expect(classifyFailure(new TRPCClientError("x", { cause: new ConsoleHttpError(404, null, "") })).kind).toBe("rejected");
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = Date.parse("2026-12-07T05:00:00Z");
    expect(classifyFailure(answered(429, { "retry-after": "3" }), now).retryAfterMs).toBe(3000);
    expect(parseRetryAfter("Mon, 07 Dec 2026 05:00:10 GMT", now)).toBe(10_000);
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });
});

describe("the back-off", () => {
  it("is full jitter: each wait in [0, min(60 s, 1 s · 2^attempt)), never sooner than Retry-After (capped at 60 s)", () => {
    fc.assert(
      fc.property(fc.nat(100), fc.double({ min: 0, max: 0.999999, noNaN: true }), fc.option(fc.nat(600_000)), (attempt, r, retryAfterMs) => {
        const wait = backoffMs(attempt, () => r);
        expect(wait).toBeGreaterThanOrEqual(0);
        expect(wait).toBeLessThan(Math.min(RETRY_CAP_MS, 1000 * 2 ** attempt));
        const delay = retryDelayMs({ kind: "transient", status: 429, retryAfterMs }, attempt, () => r);
        expect(delay).toBeGreaterThanOrEqual(Math.min(retryAfterMs ?? 0, RETRY_CAP_MS));
        expect(delay).toBeLessThanOrEqual(RETRY_CAP_MS);
      }),
    );
  });

  it("spreads a fleet: 500 agents failing together retry over the whole window, not at once", () => {
    const waits = Array.from({ length: 500 }, () => backoffMs(5));
    const seconds = new Set(waits.map((w) => Math.floor(w / 1000)));
    // 32 s of window: nearly every second of it gets some of them.
    expect(seconds.size).toBeGreaterThan(28);
    expect(Math.max(...waits)).toBeLessThan(32_000);
  });
});

describe("withRetry", () => {
  it("stops retrying when the signal aborts, and throws the last error", async () => {
    const stop = new AbortController();
    let calls = 0;
    const clock = { now: () => Date.now(), sleep: async () => void (calls === 3 && stop.abort()) };
    const failing = withRetry(() => (calls++, Promise.reject(answered(503))), { name: "heartbeat", log: recordingLogger(), clock, signal: stop.signal });
    await expect(failing).rejects.toThrow("HTTP 503");
    expect(calls).toBe(3);
  });
});
