import { EventEmitter } from "node:events";
import { z } from "zod";
import { decodeEnvelope, encodeEnvelopes, type WireEvent } from "./eventWire";

export const NetworkChange = z.object({
  kind: z.enum(["created", "updated", "deleted"]),
  networkId: z.string(),
  name: z.string(),
  revision: z.number().int(),
  actor: z.string(),
  at: z.coerce.date(),
});
export type NetworkChange = z.infer<typeof NetworkChange>;

/** Something changed on a host: new work for its agent, a revocation, a heartbeat with news, a service probe to send, networks to deploy. */
export const HostEvent = z.object({
  kind: z.enum(["work", "revoked", "enrolled", "seen", "reconcile", "release", "probe", "deploy"]),
  hostId: z.string(),
});
export type HostEvent = z.infer<typeof HostEvent>;

/**
 * An operation changed status, or its job log grew. A doorbell: the lines themselves are read
 * from the database (attachments.operationLogs, after the last line id seen).
 */
export const OperationEvent = z.object({
  kind: z.enum(["status", "log"]),
  operationId: z.string(),
  attachmentId: z.string(),
  hostId: z.string(),
  status: z.string().optional(),
});
export type OperationEvent = z.infer<typeof OperationEvent>;

/** A host's report changed the leases of a network (a doorbell: the map reads them). */
export const IpamEvent = z.object({ kind: z.literal("leases"), networkName: z.string(), hostId: z.string() });
export type IpamEvent = z.infer<typeof IpamEvent>;

/**
 * What hosts must program for services changed: a doorbell (agents fetch their part). The API's
 * changes carry the new version; the database's own (a labelled attachment's readiness, rung by a
 * trigger) do not.
 */
export const ServicesEvent = z.object({ kind: z.literal("changed"), generation: z.number().int().optional() });
export type ServicesEvent = z.infer<typeof ServicesEvent>;

/** Events may have been missed (the listener reconnected, a sender dropped some): catch up by query. */
export const Resync = z.object({ kind: z.literal("resync"), reason: z.enum(["reconnected", "missed"]) });
export type Resync = z.infer<typeof Resync>;

const TOPIC_SCHEMAS = { network: NetworkChange, host: HostEvent, operation: OperationEvent, ipam: IpamEvent, services: ServicesEvent } as const;
export type EventMap = { [K in keyof typeof TOPIC_SCHEMAS]: z.infer<(typeof TOPIC_SCHEMAS)[K]> };
export type Topic = keyof EventMap;
export const TOPICS = Object.keys(TOPIC_SCHEMAS) as Topic[];

/** One event of any topic, as a stream carrying several topics says it. */
export type TopicMessage = { [K in Topic]: { topic: K; event: EventMap[K] } }[Topic] | { topic: "resync"; event: Resync };

/**
 * Fan-out of committed changes to subscribers in this process and, with a transport, in every
 * other console replica. Publish only after the transaction commits.
 */
export interface EventBus {
  publish<K extends Topic>(topic: K, event: EventMap[K]): void;
  /**
   * Listens from the call on (not from the first read): subscribe first, then read the state, then
   * iterate. `hostId`: of the host topic, only that host's events.
   */
  subscribe<K extends Topic>(topic: K, signal?: AbortSignal, filter?: SubscribeFilter): AsyncIterable<EventMap[K] | Resync>;
  /** Several topics in one stream, in publish order. */
  subscribeMany(topics: readonly Topic[], signal?: AbortSignal, filter?: SubscribeFilter): AsyncIterable<TopicMessage>;
  /** Resolves when cross-replica delivery listens (at once without a transport). */
  ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * Narrows a subscription. An agent's stream wants its own host's events only: a bus keyed by host
 * hands each host event to that host's listener alone, where a filter in the subscriber would wake
 * every agent's stream for every event (500 streams × every operation's events, bench/fleet.ts).
 */
export interface SubscribeFilter {
  hostId?: string;
}

/** The LISTEN/NOTIFY side of a bus: `openNotifyChannel` of @switchyard/db fits. */
export interface EventTransport {
  ready: Promise<void>;
  notify(payloads: readonly string[]): Promise<void>;
  close(): Promise<void>;
}
export type OpenTransport = (handlers: {
  onMessage(payload: string): void;
  onConnected(info: { reconnected: boolean }): void;
  onError(err: unknown): void;
}) => EventTransport;

export interface EventBusOptions {
  /** Without it the bus is in-process only (one console process, tests). */
  transport?: OpenTransport;
  /**
   * At most one NOTIFY statement per tick: events that come within a tick of the last one wait for
   * the next and go together. An event after a quiet tick goes out at once (no delay for the agent
   * of a lone new operation), as do events queued behind a NOTIFY in flight once it is done.
   */
  tickMs?: number;
  /** More distinct events than this in one tick are sent as one resync doorbell instead. */
  maxEventsPerTick?: number;
  /** Bytes per NOTIFY payload (PostgreSQL allows 8000). */
  maxPayloadBytes?: number;
  log?: (entry: Record<string, unknown>) => void;
}

/** The emitter's channels: one per topic, one per host for the host topic, one for resyncs. Each carries TopicMessages. */
const channel = (topic: Topic | "resync") => `topic:${topic}`;
const hostChannel = (hostId: string) => `host:${hostId}`;
const RESYNC_MISSED: Resync = { kind: "resync", reason: "missed" };
const defaultLog = (entry: Record<string, unknown>) => console.error(JSON.stringify(entry));

export function createEventBus(opts: EventBusOptions = {}): EventBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const id = crypto.randomUUID();
  const log = opts.log ?? defaultLog;
  const tickMs = opts.tickMs ?? 10;
  const maxEvents = opts.maxEventsPerTick ?? 500;

  function deliver(topic: Topic | "resync", event: unknown): void {
    const message = { topic, event } as TopicMessage;
    emitter.emit(channel(topic), message);
    if (topic === "host") emitter.emit(hostChannel((event as HostEvent).hostId), message);
  }

  // ---- sending: coalesced per tick, one statement per flush, never per row -------------------
  const pending = new Map<string, WireEvent>();
  let owesResync = false;
  let closed = false;
  let failing = false;
  /** Cancels the flush scheduled (a timer, or an immediate after a quiet tick). */
  let timer: (() => void) | undefined;
  let flushing: Promise<void> | undefined;
  /** When the last NOTIFY was sent (performance.now()); the next one waits until a tick after it. */
  let lastFlushAt = Number.NEGATIVE_INFINITY;

  const transport = opts.transport?.({
    onMessage: receive,
    onConnected: ({ reconnected }) => {
      if (reconnected) deliver("resync", { kind: "resync", reason: "reconnected" } satisfies Resync);
      // What failed to go out while the connection was down is said now, as a resync.
      if (owesResync) schedule();
    },
    onError: (err) => log({ level: "warn", msg: "event bus connection", error: String(err) }),
  });

  function schedule(): void {
    if (!transport || closed || timer || flushing) return;
    const send = () => {
      timer = undefined;
      lastFlushAt = performance.now();
      flushing = flush().finally(() => {
        flushing = undefined;
        // A failed send waits for new events or the reconnect, not for the next tick.
        if (pending.size > 0) schedule();
      });
    };
    const wait = lastFlushAt + tickMs - performance.now();
    if (wait > 0) {
      const t = setTimeout(send, wait);
      timer = () => clearTimeout(t);
    } else {
      // After a quiet tick at once, but after this turn: what is published along with it goes too.
      const i = setImmediate(send);
      timer = () => clearImmediate(i);
    }
  }

  async function flush(): Promise<void> {
    const events = [...pending.values()];
    pending.clear();
    const overflow = events.length > maxEvents;
    const resync = owesResync || overflow;
    owesResync = false;
    const payloads = encodeEnvelopes(id, overflow ? [] : events, { resync, maxBytes: opts.maxPayloadBytes ?? 7900 });
    try {
      await transport!.notify(payloads);
      failing = false;
    } catch (err) {
      // Local subscribers had these; other replicas catch up by query when the next doorbell says so.
      owesResync = true;
      if (!failing) log({ level: "warn", msg: "event bus notify failed; the other replicas will be told to resync", events: events.length, error: String(err) });
      failing = true;
    }
  }

  function receive(payload: string): void {
    const envelope = decodeEnvelope(payload);
    if (!envelope) {
      log({ level: "warn", msg: "event bus: unreadable notification ignored", payload: payload.slice(0, 200) });
      return;
    }
    if (envelope.from === id) return;
    if (envelope.resync) deliver("resync", RESYNC_MISSED);
    for (const [topic, raw] of envelope.events) {
      const schema = TOPIC_SCHEMAS[topic as Topic] as z.ZodType | undefined;
      const parsed = schema?.safeParse(raw);
      if (parsed?.success) deliver(topic as Topic, parsed.data);
      else log({ level: "warn", msg: "event bus: unknown or malformed event ignored", topic });
    }
  }

  /**
   * Listening from this call, not from the first read: a subscriber that subscribes, then reads
   * the current state by query, then iterates, misses nothing published in between. (An async
   * generator would only attach its listener at the first `next()`.) Give a signal to stop
   * listening when the iterable may never be read to its end. Messages of the topics asked for
   * (the host topic's of one host with `hostId`) and every resync, in publish order.
   */
  function listen(topics: readonly Topic[], signal: AbortSignal | undefined, filter: SubscribeFilter = {}): AsyncGenerator<TopicMessage> {
    const names = [channel("resync"), ...topics.map((t) => (t === "host" && filter.hostId !== undefined ? hostChannel(filter.hostId) : channel(t)))];
    const queue: TopicMessage[] = [];
    let wake: (() => void) | undefined;
    const onMessage = (message: TopicMessage) => {
      queue.push(message);
      wake?.();
    };
    const stop = () => {
      for (const name of names) emitter.off(name, onMessage);
      wake?.();
    };
    for (const name of names) emitter.on(name, onMessage);
    if (signal?.aborted) stop();
    else signal?.addEventListener("abort", stop, { once: true });
    return (async function* () {
      try {
        for (;;) {
          if (signal?.aborted) return;
          const message = queue.shift();
          if (message) {
            yield message;
            continue;
          }
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      } finally {
        signal?.removeEventListener("abort", stop);
        stop();
      }
    })();
  }

  return {
    ready: transport?.ready ?? Promise.resolve(),
    publish(topic, event) {
      deliver(topic, event);
      if (!transport) return;
      const wire: WireEvent = [topic, event];
      pending.set(JSON.stringify(wire), wire);
      schedule();
    },
    subscribe<K extends Topic>(topic: K, signal?: AbortSignal, filter?: SubscribeFilter) {
      const messages = listen([topic], signal, filter);
      return (async function* () {
        for await (const message of messages) yield message.event as EventMap[K] | Resync;
      })();
    },
    subscribeMany: (topics, signal, filter) => listen(topics, signal, filter),
    async close() {
      closed = true;
      await flushing;
      if (timer) {
        timer();
        timer = undefined;
        await flush();
      } else if (pending.size > 0 || owesResync) await flush();
      await transport?.close();
    },
  };
}
