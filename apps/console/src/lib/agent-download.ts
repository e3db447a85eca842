import { z } from "zod";

/** What /downloads/agent.json says about the agent a new host downloads (the Hosts page's join panel reads it). */
export const AgentDownload = z.object({
  /** The file's name under /downloads/. */
  file: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().positive(),
  /** SWITCHYARD_PUBLIC_URL's origin when the operator set it; otherwise the browser's origin is used. */
  publicUrl: z.string().nullable(),
});
export type AgentDownload = z.infer<typeof AgentDownload>;

/** The oldest Node.js the agent bundle runs on (it is built for node20 and refuses older). */
export const AGENT_NODE_MAJOR = 20;

/** The console URL a second host should dial: the configured public URL, else the origin this browser used. */
export function chooseConsoleUrl(publicUrl: string | null, browserOrigin: string): string {
  return new URL(publicUrl ?? browserOrigin).origin;
}

/** Loopback hosts reach only the machine they are typed on: a command with one works nowhere else. */
export function isLoopbackUrl(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host.endsWith(".localhost") || /^127\.\d+\.\d+\.\d+$/.test(host) || host === "::1" || host === "0.0.0.0";
}

/** POSIX shell single quotes: the token and URL travel as one word whatever they contain. */
function quote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The join command for a new host, as one shell list: download the agent, check its sha256 (a
 * mismatch stops the list), run it with the token. `&&` at line ends keeps it one command when pasted.
 */
export function renderJoinCommand(opts: { consoleUrl: string; download: AgentDownload; token: string }): string {
  const { consoleUrl, download, token } = opts;
  const file = download.file;
  return [
    `curl -fsSLo ${quote(file)} ${quote(`${consoleUrl}/downloads/${file}`)} &&`,
    `  echo ${quote(`${download.sha256}  ${file}`)} | sha256sum -c - &&`,
    `  sudo node ${quote(file)} --console-url ${quote(consoleUrl)} --join-token ${quote(token)}`,
  ].join("\n");
}

/** After the first start enrolled the host: keep the agent running under systemd (its credential stays in /var/lib/switchyard-agent). */
export function renderServiceCommand(opts: { consoleUrl: string; download: AgentDownload }): string {
  const { consoleUrl, download } = opts;
  return [
    `sudo install -D -m 0644 ${quote(download.file)} /opt/switchyard/switchyard-agent.mjs &&`,
    `  sudo curl -fsSLo /etc/systemd/system/switchyard-agent.service ${quote(`${consoleUrl}/downloads/switchyard-agent.service`)} &&`,
    `  sudo mkdir -p /etc/switchyard && echo ${quote(`SWITCHYARD_CONSOLE_URL=${consoleUrl}`)} | sudo tee /etc/switchyard/agent.env >/dev/null &&`,
    `  sudo systemctl daemon-reload && sudo systemctl enable --now switchyard-agent`,
  ].join("\n");
}
