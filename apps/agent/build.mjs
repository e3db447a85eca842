// `turbo run build`: the agent as one ES module, dist/switchyard-agent.mjs (+ .sha256), which the
// console serves to new hosts and the agent image runs, and beside it the systemd unit the console
// serves too. See tooling/bundle.mjs.
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
// The userspace proxy (issue 14): its own process, which the agent forks and supervises, so a proxy
// crash never takes the agent down. It ships beside the agent.
await bundleProgram({
  packageDir: here("."),
  entry: "../../packages/dataplane/src/proxy/process.ts",
  outfile: "dist/switchyard-proxy.mjs",
  // No exit: the primary lives on its IPC channel and signals, the workers on their sockets.
  run: "await main(process.argv.slice(2));",
});
copyFileSync(here("../../deploy/switchyard-agent.service"), here("dist/switchyard-agent.service"));
