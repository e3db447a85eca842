import { AgentDownload } from "~/lib/agent-download";
import { type DownloadName, isDownloadName, readDownload } from "~/server/agent-files";
import { getEnv } from "~/server/env";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

const AGENT = "switchyard-agent.mjs" satisfies DownloadName;
const NOT_BUILT = "the agent is not built on this console: run `npx turbo run build --filter=@switchyard/agent` (SWITCHYARD_AGENT_DIST_DIR";

/**
 * What a new host downloads, without signing in (it has nothing to sign in with; the files hold no
 * secret): the agent as one file, its sha256 (`sha256sum -c` format), its systemd unit, and
 * agent.json for the Hosts page's join panel.
 */
export async function GET(_req: Request, { params }: { params: Promise<{ file: string }> }): Promise<Response> {
  const { file } = await params;
  const env = getEnv();
  const distDir = env.SWITCHYARD_AGENT_DIST_DIR;
  if (file === "agent.json" || file === `${AGENT}.sha256`) {
    const agent = await readDownload(distDir, AGENT);
    if (!agent) return text(404, `${NOT_BUILT}=${distDir})\n`);
    if (file !== "agent.json") return text(200, `${agent.sha256}  ${AGENT}\n`);
    const body = AgentDownload.parse({ file: AGENT, sha256: agent.sha256, bytes: agent.bytes.length, publicUrl: env.SWITCHYARD_PUBLIC_URL ? new URL(env.SWITCHYARD_PUBLIC_URL).origin : null });
    return Response.json(body, { headers: { "cache-control": "no-cache" } });
  }
  if (!isDownloadName(file)) return text(404, `no such download ${JSON.stringify(file)}: there are ${AGENT}, ${AGENT}.sha256, switchyard-agent.service and agent.json\n`);
  const found = await readDownload(distDir, file);
  if (!found) return text(404, `${NOT_BUILT}=${distDir})\n`);
  return new Response(new Uint8Array(found.bytes), {
    headers: {
      "content-type": found.contentType,
      "content-length": String(found.bytes.length),
      "content-disposition": `attachment; filename="${found.name}"`,
      // RFC 9530: the checksum travels with the file as well as in the command.
      "repr-digest": `sha-256=:${Buffer.from(found.sha256, "hex").toString("base64")}:`,
      etag: `"${found.sha256}"`,
      "cache-control": "no-cache",
    },
  });
}

function text(status: number, body: string): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-cache" } });
}
