import { createTrpcHttpHandler } from "@switchyard/api/http";
import { getDeps } from "~/server/deps";
import { getEnv } from "~/server/env";

export const dynamic = "force-dynamic";

let handler: ((req: Request) => Promise<Response>) | undefined;

function handle(req: Request): Promise<Response> {
  if (!handler) {
    const env = getEnv();
    handler = createTrpcHttpHandler(getDeps, {
      allowedOrigins: env.SWITCHYARD_PUBLIC_URL ? [new URL(env.SWITCHYARD_PUBLIC_URL).origin] : [],
      maxBatchSize: env.SWITCHYARD_MAX_BATCH,
      maxBodyBytes: env.SWITCHYARD_MAX_BODY_BYTES,
      streamsPerCredential: env.SWITCHYARD_STREAMS_PER_CREDENTIAL,
      tokenRate: { perSecond: env.SWITCHYARD_TOKEN_RATE, burst: env.SWITCHYARD_TOKEN_BURST },
    });
  }
  return handler(req);
}

export { handle as GET, handle as POST, handle as PUT, handle as DELETE, handle as PATCH };
