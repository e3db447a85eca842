import { describe, expect, it } from "vitest";
import { decodeEnvelope } from "./eventWire";
import { createEventBus, type EventTransport } from "./events";

/** A bus whose NOTIFYs are recorded (the hosts they carry); each stays in flight until the test lets it go. */
function recordingBus(tickMs: number) {
  const sent: string[][] = [];
  const inFlight: (() => void)[] = [];
  const bus = createEventBus({
    tickMs,
    log: () => {},
    transport: (): EventTransport => ({
      ready: Promise.resolve(),
      notify: (payloads) => {
        sent.push(payloads.flatMap((p) => decodeEnvelope(p)!.events.map(([, e]) => (e as { hostId: string }).hostId)));
        return new Promise<void>((resolve) => inFlight.push(resolve));
      },
      close: async () => {},
    }),
  });
  const work = (hostId: string) => bus.publish("host", { kind: "work", hostId });
  const turn = () => new Promise<void>((r) => setImmediate(r));
  return { bus, sent, work, turn, land: () => inFlight.splice(0).forEach((r) => r()) };
}

// The other replicas hear of new work through these NOTIFYs: a wait here is the agent's wait.
describe("the event bus's NOTIFYs to the other replicas", () => {
  it("an event after a quiet tick goes out at once, with what was published in the same turn", async () => {
    const b = recordingBus(60_000);
    b.work("h1");
    b.work("h2");
    await b.turn();
    await b.turn();
    expect(b.sent).toEqual([["h1", "h2"]]);
    b.land();
    await b.bus.close();
  });

  it("events within a tick of the last NOTIFY wait for the tick and go together: at most one NOTIFY per tick", async () => {
    const b = recordingBus(200);
    b.work("h1");
    await b.turn();
    b.land();
    b.work("h2");
    b.work("h3");
    await new Promise((r) => setTimeout(r, 50));
    expect(b.sent).toEqual([["h1"]]);
    await new Promise((r) => setTimeout(r, 300));
    expect(b.sent).toEqual([["h1"], ["h2", "h3"]]);
    b.land();
    await b.bus.close();
  });

  it("with no tick, events published while a NOTIFY is in flight go together once it is done", async () => {
    const b = recordingBus(0);
    b.work("h1");
    await b.turn();
    b.work("h2");
    b.work("h3");
    await b.turn();
    expect(b.sent).toEqual([["h1"]]);
    b.land();
    await b.turn();
    await b.turn();
    expect(b.sent).toEqual([["h1"], ["h2", "h3"]]);
    b.land();
    await b.bus.close();
  });
});

// A subscriber subscribes, reads the current state, then reads the stream: what is published
// between the subscribe call and its first read must be on the stream (the catch-up gap).
describe("subscriptions listen from the call, not from the first read", () => {
  it("subscribe: an event published before the first read is delivered", async () => {
    const bus = createEventBus();
    const stop = new AbortController();
    const hosts = bus.subscribe("host", stop.signal)[Symbol.asyncIterator]();
    bus.publish("host", { kind: "work", hostId: "h-between" });
    expect((await hosts.next()).value).toEqual({ kind: "work", hostId: "h-between" });
    stop.abort();
    await bus.close();
  });

  it("subscribeMany: an event published before the first read is delivered, other topics left out", async () => {
    const bus = createEventBus();
    const stop = new AbortController();
    const messages = bus.subscribeMany(["operation"], stop.signal)[Symbol.asyncIterator]();
    bus.publish("host", { kind: "seen", hostId: "h-other-topic" });
    bus.publish("operation", { kind: "status", operationId: "op-1", attachmentId: "a-1", hostId: "h-1", status: "succeeded" });
    expect((await messages.next()).value).toEqual({ topic: "operation", event: { kind: "status", operationId: "op-1", attachmentId: "a-1", hostId: "h-1", status: "succeeded" } });
    stop.abort();
    expect((await messages.next()).done).toBe(true);
    await bus.close();
  });
});
