import { createAgentHttpHandler } from "@switchyard/api/http";
import { getDeps } from "~/server/deps";
import { getEnv } from "~/server/env";

export const dynamic = "force-dynamic";

let handler: ((req: Request) => Promise<Response>) | undefined;

/** The host agents' endpoint (bearer host credentials); browsers use /api/trpc. */
function handle(req: Request): Promise<Response> {
  if (!handler) {
    const env = getEnv();
    handler = createAgentHttpHandler(getDeps, {
      maxBatchSize: env.SWITCHYARD_MAX_BATCH,
      maxBodyBytes: env.SWITCHYARD_MAX_BODY_BYTES,
      streamsPerCredential: env.SWITCHYARD_STREAMS_PER_CREDENTIAL,
      rates: {
        enrol: { perSecond: env.SWITCHYARD_ENROL_RATE, burst: env.SWITCHYARD_ENROL_BURST },
        calls: { perSecond: env.SWITCHYARD_AGENT_RATE, burst: env.SWITCHYARD_AGENT_BURST },
        perHost: { perSecond: env.SWITCHYARD_AGENT_HOST_RATE, burst: env.SWITCHYARD_AGENT_HOST_BURST },
        perAddress: { perSecond: env.SWITCHYARD_AGENT_ADDRESS_RATE, burst: env.SWITCHYARD_AGENT_ADDRESS_BURST },
        unauthenticated: { perSecond: env.SWITCHYARD_AGENT_UNAUTH_RATE, burst: env.SWITCHYARD_AGENT_UNAUTH_BURST },
      },
    });
  }
  return handler(req);
}

export { handle as GET, handle as POST, handle as PUT, handle as DELETE, handle as PATCH };
