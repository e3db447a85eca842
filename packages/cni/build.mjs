// `turbo run build`: switchyard-cni as one ES module, dist/switchyard-cni.mjs. See tooling/bundle.mjs.
import { fileURLToPath } from "node:url";
import { bundleProgram } from "../../tooling/bundle.mjs";

await bundleProgram({
  packageDir: fileURLToPath(new URL(".", import.meta.url)),
  entry: "src/cli.ts",
  outfile: "dist/switchyard-cni.mjs",
  run: "process.exitCode = await main(process.argv.slice(2), { env: process.env, stdout: process.stdout, stderr: process.stderr });",
});
