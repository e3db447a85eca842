import { type IncomingMessage, request as httpRequest } from "node:http";

/** What sendRequest sends. */
export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal | null;
}

/**
 * An answer as the agent's two readers take it: the tRPC link (status, headers, the body as JSON
 * or text) and EventSource (the body as it arrives, through a reader shaped like a web stream's).
 */
export interface HttpAnswer {
  status: number;
  url: string;
  /** Never: redirects are not followed (see sendRequest). */
  redirected: false;
  headers: { get(name: string): string | null };
  body: { getReader(): { read(): Promise<{ done: false; value: Uint8Array } | { done: true; value?: undefined }>; cancel(): Promise<void>; releaseLock(): void } };
  text(): Promise<string>;
  json(): Promise<unknown>;
}

/**
 * One HTTP request with node:http (node:https, loaded then, for an https URL), resolved once the
 * answer's headers came. Not fetch: Node's fetch is undici, whose code alone holds ~12 MB of an
 * idle agent's memory (issue 15 §5's budget is 60 MB; bench/agent-memory.ts). Connections are kept
 * alive by Node's global agent, each until the console's Keep-Alive hint runs out. A 3xx is an
 * answer like any other: redirects are not followed, so the credential goes nowhere but the
 * console's URL. An abort, before or after the answer came, ends it with the signal's reason, as
 * with fetch.
 */
export async function sendRequest(url: string | URL, init: HttpRequest = {}): Promise<HttpAnswer> {
  const target = new URL(url);
  const request = target.protocol === "https:" ? (await import("node:https")).request : httpRequest;
  const signal = init.signal ?? undefined;
  signal?.throwIfAborted();
  return new Promise<HttpAnswer>((resolve, reject) => {
    const req = request(target, { method: init.method ?? "GET", headers: init.headers });
    let answer: IncomingMessage | undefined;
    const onAbort = () => {
      req.destroy(signal!.reason);
      answer?.destroy(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    req.once("close", () => signal?.removeEventListener("abort", onAbort));
    req.once("error", reject);
    req.once("response", (res) => {
      answer = res;
      resolve(answerOf(target, res));
    });
    req.end(init.body);
  });
}

function answerOf(url: URL, res: IncomingMessage): HttpAnswer {
  const text = async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  };
  return {
    status: res.statusCode ?? 0,
    url: url.href,
    redirected: false,
    headers: {
      get(name) {
        const value = res.headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
      },
    },
    body: {
      getReader() {
        const chunks = res[Symbol.asyncIterator]();
        return {
          read: async () => {
            const next = await chunks.next();
            return next.done ? { done: true } : { done: false, value: next.value as Buffer };
          },
          cancel: async () => void res.destroy(),
          releaseLock: () => {},
        };
      },
    },
    text,
    json: async () => JSON.parse(await text()) as unknown,
  };
}
