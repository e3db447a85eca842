import type { AnyRouter } from "@trpc/server";
import { replicaMetrics } from "./replica";

/**
 * Counts and times the calls an endpoint handles, refusals before tRPC (401, 413, 429, …)
 * included. The procedure label is a path of `router` or "unknown": a caller cannot mint a label
 * value (and a series) per made-up URL. Each call of a batch counts with the batch's status.
 */
export function instrumentRequests(endpoint: "browser" | "agent" | "rest", prefix: string, router: AnyRouter, handle: (req: Request) => Promise<Response>) {
  let known: Set<string> | undefined;
  const procedureOf = (path: string) => ((known ??= new Set(Object.keys(router._def.procedures))).has(path) ? path : "unknown");
  return async function instrumented(req: Request): Promise<Response> {
    const started = performance.now();
    const { pathname } = new URL(req.url);
    // The same split as screen() in http.ts; beyond its batch limit the call is refused anyway.
    const procedures = pathname.startsWith(`${prefix}/`) ? pathname.slice(prefix.length + 1).split(",", 1000).map(procedureOf) : ["unknown"];
    let status = 500;
    try {
      const response = await handle(req);
      status = response.status;
      return response;
    } finally {
      const m = replicaMetrics();
      const seconds = (performance.now() - started) / 1000;
      for (const procedure of procedures) {
        m.requests.inc({ endpoint, procedure, status: String(status) });
        m.requestDuration.observe({ endpoint, procedure }, seconds);
      }
    }
  };
}
