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

describe("subscriptions narrowed to one host", () => {
  it("get that host's events of the host topic, every event of their other topics and every resync, in publish order", async () => {
    const received: { topic: string; event: unknown }[] = [];
    let fromOtherReplica!: (payload: string) => void;
    const bus = createEventBus({
      log: () => {},
      transport: ({ onMessage }) => {
        fromOtherReplica = onMessage;
        return { ready: Promise.resolve(), notify: async () => {}, close: async () => {} };
      },
    });
    const stop = new AbortController();
    const mine = bus.subscribeMany(["host", "services"], stop.signal, { hostId: "h-mine" });
    const others = bus.subscribe("host", stop.signal, { hostId: "h-other" })[Symbol.asyncIterator]();
    // Another replica's doorbell: events may have been missed.
    fromOtherReplica(JSON.stringify({ v: 1, from: "other", resync: true, events: [] }));
    bus.publish("host", { kind: "work", hostId: "h-else" });
    bus.publish("host", { kind: "work", hostId: "h-mine" });
    bus.publish("operation", { kind: "log", operationId: "op-1", attachmentId: "a-1", hostId: "h-mine" });
    bus.publish("services", { kind: "changed", generation: 2 });
    bus.publish("host", { kind: "revoked", hostId: "h-mine" });
    await new Promise((r) => setImmediate(r));
    for await (const m of mine) {
      received.push(m);
      if (received.length === 4) break;
    }
    expect(received).toEqual([
      { topic: "resync", event: { kind: "resync", reason: "missed" } },
      { topic: "host", event: { kind: "work", hostId: "h-mine" } },
      { topic: "services", event: { kind: "changed", generation: 2 } },
      { topic: "host", event: { kind: "revoked", hostId: "h-mine" } },
    ]);
    // Another host's subscription: the resync only.
    expect((await others.next()).value).toEqual({ kind: "resync", reason: "missed" });
    bus.publish("host", { kind: "work", hostId: "h-other" });
    expect((await others.next()).value).toEqual({ kind: "work", hostId: "h-other" });
    stop.abort();
    expect((await others.next()).done).toBe(true);
    await bus.close();
  });

  it("end when their signal aborts, read or not", async () => {
    const bus = createEventBus();
    const stop = new AbortController();
    const unread = bus.subscribeMany(["host"], stop.signal, { hostId: "h-1" });
    const read = bus.subscribe("host", stop.signal, { hostId: "h-1" })[Symbol.asyncIterator]();
    const pending = read.next();
    stop.abort();
    expect((await pending).done).toBe(true);
    expect((await unread[Symbol.asyncIterator]().next()).done).toBe(true);
    await bus.close();
  });
});
