import { createAgentHttpHandler } from "@switchyard/api/http";
import { getDeps } from "~/server/deps";
import { getEnv } from "~/server/env";

export const dynamic = "force-dynamic";

let handler: ((req: Request) => Promise<Response>) | undefined;

/** The host agents' endpoint (bearer host credentials); browsers use /api/trpc. */
function handle(req: Request): Promise<Response> {
  if (!handler) {
    const env = getEnv();
    handler = createAgentHttpHandler(getDeps, { maxBatchSize: env.SWITCHYARD_MAX_BATCH, maxBodyBytes: env.SWITCHYARD_MAX_BODY_BYTES });
  }
  return handler(req);
}

export { handle as GET, handle as POST, handle as PUT, handle as DELETE, handle as PATCH };
