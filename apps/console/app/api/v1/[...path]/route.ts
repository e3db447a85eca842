import { createRestHttpHandler } from "@switchyard/api/rest";
import { getDeps } from "~/server/deps";
import { getEnv } from "~/server/env";

export const dynamic = "force-dynamic";

let handler: ((req: Request) => Promise<Response>) | undefined;

/** The REST API and its OpenAPI document (packages/api/src/rest.ts): the tRPC procedures as plain JSON, for API tokens. */
function handle(req: Request): Promise<Response> {
  if (!handler) {
    const env = getEnv();
    handler = createRestHttpHandler(getDeps, {
      maxBodyBytes: env.SWITCHYARD_MAX_BODY_BYTES,
      tokenRate: { perSecond: env.SWITCHYARD_TOKEN_RATE, burst: env.SWITCHYARD_TOKEN_BURST },
    });
  }
  return handler(req);
}

export { handle as GET, handle as POST, handle as PUT, handle as DELETE, handle as PATCH };
