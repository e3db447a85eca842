// `turbo run build`: the CLI as one ES module, dist/switchyard.mjs (+ .sha256), which bin/switchyard
// runs: plain JavaScript, nothing compiled at start. The console's server code never gets in (the
// client is typed with `import type { AppRouter }`; tooling/bundle.mjs refuses @prisma, next, db).
import { fileURLToPath } from "node:url";
import { bundleProgram } from "../../tooling/bundle.mjs";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

await bundleProgram({
  packageDir: here("."),
  entry: "src/main.ts",
  outfile: "dist/switchyard.mjs",
  // Exit at once: fetch's idle keep-alive sockets must not hold a finished command. stdout and
  // stderr are pipes, files or terminals, written synchronously on Linux: nothing is lost.
  run: "process.exit(await main(process.argv.slice(2)));",
});
