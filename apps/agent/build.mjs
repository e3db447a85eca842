// `turbo run build`: the agent as one ES module, dist/switchyard-agent.mjs (+ .sha256), which the
// console serves to new hosts and the agent image runs, and beside it the systemd unit the console
// serves too. See tooling/bundle.mjs. The userspace proxy (issue 14) is in the same file
// (`switchyard-agent proxy`), loaded only when run as it.
import { copyFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { bundleProgram } from "../../tooling/bundle.mjs";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

await bundleProgram({
  packageDir: here("."),
  entry: "src/main.ts",
  outfile: "dist/switchyard-agent.mjs",
  // Exit now: idle keep-alive sockets or a reconnecting event stream must not hold a stopping agent.
  run: "process.exit(await main(process.argv.slice(2)));",
});
copyFileSync(here("../../deploy/switchyard-agent.service"), here("dist/switchyard-agent.service"));
