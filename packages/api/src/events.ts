import { EventEmitter, on } from "node:events";

export interface NetworkChange {
  kind: "created" | "updated" | "deleted";
  networkId: string;
  name: string;
  revision: number;
  actor: string;
  at: Date;
}

/** Something changed on a host: new work for its agent, a revocation, a heartbeat with news. */
export interface HostEvent {
  kind: "work" | "revoked" | "enrolled" | "seen" | "reconcile";
  hostId: string;
}

/** An operation changed status, or its job log grew. */
export interface OperationEvent {
  kind: "status" | "log";
  operationId: string;
  attachmentId: string;
  hostId: string;
  status?: string;
  lines?: { at: Date; stream: string; line: string; attempt: number }[];
}

interface EventMap {
  network: NetworkChange;
  host: HostEvent;
  operation: OperationEvent;
}

/**
 * In-process fan-out of committed changes to subscribed browsers.
 * Publish only after the transaction commits.
 */
export interface EventBus {
  publish<K extends keyof EventMap>(topic: K, event: EventMap[K]): void;
  subscribe<K extends keyof EventMap>(topic: K, signal?: AbortSignal): AsyncIterable<EventMap[K]>;
}

export function createEventBus(): EventBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    publish(topic, event) {
      emitter.emit(topic, event);
    },
    async *subscribe(topic, signal) {
      try {
        for await (const [event] of on(emitter, topic, { signal })) yield event;
      } catch (err) {
        if (!signal?.aborted) throw err;
      }
    },
  };
}
