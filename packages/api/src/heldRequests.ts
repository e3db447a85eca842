/**
 * Requests that hold a connection open (SSE subscriptions, long polls), counted per credential
 * (issue 15 §1): each costs a socket, a listener on the event bus and timers for as long as it
 * lasts, so one credential opening thousands would take the console's memory and file
 * descriptors. A slot is taken before the request runs and given back when its response ends,
 * whichever way (the body read to its end, cancelled, or the request aborted).
 */
export interface HeldRequests {
  readonly max: number;
  /** A slot for `key`, or null when `key` holds `max` already. The release is idempotent. */
  take(key: string): (() => void) | null;
  /** How many `key` holds now. */
  held(key: string): number;
}

/** A browser tab or an agent holds one stream; the margin covers reconnects whose old connection has not closed yet (a half-open one lasts until a write fails). */
export const DEFAULT_STREAMS_PER_CREDENTIAL = 32;

export function createHeldRequests(max: number): HeldRequests {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`streams per credential ${max} is invalid: a whole number of at least 1`);
  const counts = new Map<string, number>();
  return {
    max,
    take(key) {
      const n = counts.get(key) ?? 0;
      if (n >= max) return null;
      counts.set(key, n + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (counts.get(key) ?? 1) - 1;
        if (left <= 0) counts.delete(key);
        else counts.set(key, left);
      };
    },
    held: (key) => counts.get(key) ?? 0,
  };
}

/**
 * `response` with `release` called once its body is done: read to the end, failed, or cancelled
 * (the client went away), or when `signal` aborts; at once when it has no body.
 */
export function releaseWhenDone(response: Response, release: () => void, signal?: AbortSignal): Response {
  if (!response.body) {
    release();
    return response;
  }
  if (signal?.aborted) release();
  else signal?.addEventListener("abort", release, { once: true });
  const reader = response.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          release();
          controller.close();
        } else controller.enqueue(value);
      } catch (err) {
        release();
        controller.error(err);
      }
    },
    cancel(reason) {
      release();
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}
