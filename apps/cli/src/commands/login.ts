import { checkToken, configPath, normalizeUrl, writeConfigFile } from "../config";
import type { Ctx } from "../context";
import { CliError, EXIT } from "../exit";
import { canPrompt, readLine, readStdin } from "../prompt";

/**
 * `switchyard login --url URL`: the token comes from stdin (typed hidden on a terminal, or piped:
 * `echo "$TOKEN" | switchyard login --url …`), never from argv, where shell history and `ps` keep
 * it. The console is asked whether it takes the token (unless --no-verify); a refused token is not saved.
 */
export async function login(ctx: Ctx, opts: { verify: boolean }): Promise<number> {
  if (!ctx.flags.url) throw new CliError(EXIT.usage, "login needs the console's URL: switchyard login --url https://console.example:3000");
  if (ctx.flags.token) throw new CliError(EXIT.usage, "login reads the token from stdin, not from --token (shell history and `ps` would keep it)");
  const url = normalizeUrl(ctx.flags.url, "--url");
  const raw = process.stdin.isTTY ? (canPrompt() ? await readLine("API token (syt_..., not shown): ", { hidden: true }) : "") : await readStdin();
  if (raw.trim() === "") throw new CliError(EXIT.usage, "no token on stdin: paste it when asked, or pipe it (`switchyard login --url URL < token-file`)");
  const token = checkToken(raw, "stdin");
  if (opts.verify) {
    const { createConsoleClient, toCliError, trpcCode } = await import("../client");
    const client = await createConsoleClient({ url, token, urlFrom: "--url", tokenFrom: "stdin" }, { note: (t) => ctx.err(`switchyard: ${t}\n`) });
    try {
      await client.networks.list.query({ limit: 1 });
    } catch (error) {
      // A token limited to what the CLI's check cannot read is still a token: kept, with a word.
      if (trpcCode(error) !== "FORBIDDEN") {
        const e = toCliError(error);
        throw new CliError(e.exitCode, `not saved: ${e.message}`, e.details);
      }
      ctx.err(`switchyard: note: the token may not list networks (${(error as Error).message})\n`);
    }
  }
  const path = configPath(ctx.env);
  writeConfigFile(path, { url, token });
  ctx.out(`Saved the console ${url} and its token to ${path} (mode 0600).\n`);
  return EXIT.ok;
}
