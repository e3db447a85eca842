import { z } from "zod";

/**
 * The NOTIFY payloads the event bus sends between console replicas: doorbells, not data.
 * One envelope carries every event of one tick; envelopes are cut to fit PostgreSQL's payload limit.
 */
export const Envelope = z.object({
  v: z.literal(1),
  /** The sending bus: a replica skips its own envelopes (it delivered those events locally). */
  from: z.string().min(1).max(64),
  /** The sender dropped events (a failed send, a burst): receivers catch up by query. */
  resync: z.boolean().optional(),
  events: z.array(z.tuple([z.string().max(32), z.unknown()])).max(10_000),
});
export type Envelope = z.infer<typeof Envelope>;

export type WireEvent = [topic: string, event: unknown];

const byteLength = (s: string) => Buffer.byteLength(s, "utf8");

/**
 * Cuts `events` into as few envelopes as fit `maxBytes` each. An event that alone does not fit
 * is dropped and the first envelope asks for a resync instead.
 */
export function encodeEnvelopes(from: string, events: readonly WireEvent[], opts: { resync?: boolean; maxBytes: number }): string[] {
  let resync = opts.resync ?? false;
  const pieces = events.map((e) => JSON.stringify(e));
  const fitting = pieces.filter((p) => {
    const fits = byteLength(p) + 64 + from.length <= opts.maxBytes;
    if (!fits) resync = true;
    return fits;
  });
  const head = (withResync: boolean) => `{"v":1,"from":${JSON.stringify(from)},${withResync ? '"resync":true,' : ""}"events":[`;
  const out: string[] = [];
  let current: string[] = [];
  let size = 0;
  const close = () => {
    const first = out.length === 0;
    out.push(`${head(first && resync)}${current.join(",")}]}`);
    current = [];
  };
  for (const piece of fitting) {
    const start = byteLength(head(out.length === 0 && resync)) + 2;
    if (current.length > 0 && size + byteLength(piece) + 1 > opts.maxBytes - start) close();
    if (current.length === 0) size = 0;
    current.push(piece);
    size += byteLength(piece) + 1;
  }
  if (current.length > 0 || (out.length === 0 && resync)) close();
  return out;
}

/** Parses one payload; null when it is not an envelope of this version (logged by the caller). */
export function decodeEnvelope(payload: string): Envelope | null {
  try {
    const parsed = Envelope.safeParse(JSON.parse(payload));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
