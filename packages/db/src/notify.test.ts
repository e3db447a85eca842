import { describe, expect, it } from "vitest";
import { openNotifyChannel } from "./notify";

const quiet = { onMessage: () => {}, onConnected: () => {} };

describe("openNotifyChannel refuses what could never be heard", () => {
  it("a channel name that is not a plain identifier (it is written into LISTEN)", () => {
    for (const bad of ["", "Upper", "1abc", "a;DROP TABLE x", "a b", "x".repeat(64)]) {
      expect(() => openNotifyChannel("postgresql://u:p@127.0.0.1:1/db", bad, quiet)).toThrow(`notify channel "${bad}" is invalid`);
    }
  });

  it("an anonymous in-memory PGlite (every use is a new instance)", () => {
    expect(() => openNotifyChannel("file::memory:", "switchyard_events", quiet)).toThrow(/file::memory:<name>/);
  });
});
