import { createMetricsHttpHandler } from "@switchyard/api/metrics";
import { getDeps } from "~/server/deps";
import { getEnv } from "~/server/env";

export const dynamic = "force-dynamic";

let handler: ((req: Request) => Promise<Response>) | undefined;

/** Prometheus scrapes (README "Metrics"): a bearer scrape token or general API token, else 401. */
function handle(req: Request): Promise<Response> {
  if (!handler) {
    const env = getEnv();
    handler = createMetricsHttpHandler(getDeps, { scrapeToken: env.SWITCHYARD_METRICS_TOKEN, tokenRate: { perSecond: env.SWITCHYARD_TOKEN_RATE, burst: env.SWITCHYARD_TOKEN_BURST } });
  }
  return handler(req);
}

export { handle as GET };
