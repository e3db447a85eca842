import { describe, expect, it } from "vitest";
import { recordingLogger } from "../test/fakes";
import type { Clock } from "./clock";
import type { PushStreamState } from "./push";
import { SAFETY_NET_MS, claimSafetyNet } from "./safety-net";

/** Runs the safety net on a virtual clock for `seconds`; the stream's state at each tick comes from `streamAt`. */
async function claimsOver(seconds: number, streamAt: (s: number) => PushStreamState): Promise<number[]> {
  let t = 0;
  const stop = new AbortController();
  const clock: Clock = {
    now: () => 1_700_000_000_000 + t,
    monotonic: () => t,
    sleep: async (ms) => {
      t += ms;
      if (t > seconds * 1000) stop.abort();
    },
  };
  const claims: number[] = [];
  const job = claimSafetyNet({ claim: async () => void claims.push(t / 1000), stream: () => streamAt(t / 1000), clock, log: recordingLogger() });
  await job.run(stop.signal);
  return claims;
}

const open = (since: number): PushStreamState => ({ open: true, since: new Date(1_700_000_000_000 + since * 1000) });
const closed: PushStreamState = { open: false, since: new Date(0) };

describe("the claim safety net", () => {
  it("claims every 15 s while the push stream is down", async () => {
    expect(SAFETY_NET_MS).toBe(15_000);
    expect(await claimsOver(120, () => closed)).toEqual([15, 30, 45, 60, 75, 90, 105, 120]);
  });

  it("claims once a minute while one stream stays open, and at once when it has reopened", async () => {
    // Open from the start; lost at 100 s, open again from 130 s.
    const claims = await claimsOver(300, (s) => (s < 100 ? open(0) : s < 130 ? closed : open(130)));
    expect(claims).toEqual([15, 75, 105, 120, 135, 195, 255]);
  });
});
