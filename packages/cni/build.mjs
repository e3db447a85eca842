// `turbo run build`: switchyard-cni as one CommonJS file, dist/switchyard-cni.cjs (bin/switchyard-cni
// runs it). See tooling/bundle.mjs.
import { fileURLToPath } from "node:url";
import { bundleProgram } from "../../tooling/bundle.mjs";

await bundleProgram({
  packageDir: fileURLToPath(new URL(".", import.meta.url)),
  entry: "src/cli.ts",
  outfile: "dist/switchyard-cni.cjs",
  // stdout and stderr are made on first write: a DEL or GC that prints nothing does not pay for them.
  run: "process.exitCode = await main(process.argv.slice(2), { env: process.env, get stdout() { return process.stdout; }, get stderr() { return process.stderr; } });",
  commonjs: true,
});
