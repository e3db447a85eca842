import { describe, expect, it } from "vitest";
import { formatRelative, formatTime } from "./format";

describe("formatTime", () => {
  it("always names the zone", () => {
    const at = new Date("2026-12-05T21:54:27Z");
    expect(formatTime(at, { timeZone: "UTC" })).toBe("2026-12-05 21:54:27 UTC");
    expect(formatTime(at, { timeZone: "Europe/Berlin" })).toBe("2026-12-05 22:54:27 GMT+1");
  });
});

describe("formatRelative", () => {
  it("truncates to the largest whole unit, both ways", () => {
    const now = new Date("2026-12-05T12:00:00Z");
    expect(formatRelative(new Date("2026-12-05T11:55:30Z"), now)).toBe("4 minutes ago");
    expect(formatRelative(new Date("2026-12-05T13:00:00Z"), now)).toBe("in 1 hour");
    expect(formatRelative(new Date("2026-12-05T11:59:58Z"), now)).toBe("just now");
  });
});
