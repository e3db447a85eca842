import { describe, expect, it } from "vitest";
import { decodeEnvelope, encodeEnvelopes, type WireEvent } from "./eventWire";

const hostWork = (i: number): WireEvent => ["host", { kind: "work", hostId: `host-${String(i).padStart(4, "0")}` }];

describe("event bus envelopes (NOTIFY payloads)", () => {
  it("puts a tick's events in one payload when they fit, and reads them back in order", () => {
    const events = [hostWork(1), hostWork(2), ["operation", { kind: "log", operationId: "op-1", attachmentId: "a-1", hostId: "h-1" }] as WireEvent];
    const payloads = encodeEnvelopes("bus-a", events, { maxBytes: 7900 });
    expect(payloads).toHaveLength(1);
    expect(decodeEnvelope(payloads[0]!)).toEqual({ v: 1, from: "bus-a", events });
  });

  it("cuts a burst into as few payloads as the limit allows, none over it, nothing lost", () => {
    const events = Array.from({ length: 500 }, (_, i) => hostWork(i));
    const payloads = encodeEnvelopes("bus-a", events, { maxBytes: 7900 });
    const bytes = payloads.map((p) => Buffer.byteLength(p));
    expect(Math.max(...bytes)).toBeLessThanOrEqual(7900);
    const total = events.reduce((n, e) => n + JSON.stringify(e).length + 1, 0);
    expect(payloads.length).toBe(Math.ceil(total / 7800));
    expect(payloads.flatMap((p) => decodeEnvelope(p)!.events)).toEqual(events);
  });

  it("an event too big for any payload is replaced by a resync doorbell, said once", () => {
    const huge: WireEvent = ["network", { kind: "created", name: "x".repeat(9000) }];
    const payloads = encodeEnvelopes("bus-a", [hostWork(1), huge, hostWork(2)], { maxBytes: 7900 });
    const decoded = payloads.map((p) => decodeEnvelope(p)!);
    expect(decoded.filter((d) => d.resync)).toHaveLength(1);
    expect(decoded.flatMap((d) => d.events)).toEqual([hostWork(1), hostWork(2)]);
  });

  it("a resync with no events is still one payload; nothing at all is none", () => {
    expect(encodeEnvelopes("bus-a", [], { resync: true, maxBytes: 7900 }).map(decodeEnvelope)).toEqual([{ v: 1, from: "bus-a", resync: true, events: [] }]);
    expect(encodeEnvelopes("bus-a", [], { maxBytes: 7900 })).toEqual([]);
  });

  it("refuses what is not an envelope of this version", () => {
    for (const junk of ["", "not json", "{}", '{"v":2,"from":"x","events":[]}', '{"v":1,"from":"","events":[]}', '{"v":1,"from":"x","events":[1]}', "null"]) {
      expect(decodeEnvelope(junk)).toBeNull();
    }
  });
});
