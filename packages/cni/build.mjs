// `turbo run build`: switchyard-cni as one CommonJS file, dist/switchyard-cni.cjs, and the V8 code
// cache bin/switchyard-cni compiles it with (dist/switchyard-cni.cjs.cache). See tooling/bundle.mjs.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleProgram } from "../../tooling/bundle.mjs";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

await bundleProgram({
  packageDir: here("."),
  entry: "src/cli.ts",
  outfile: "dist/switchyard-cni.cjs",
  // stdout and stderr are written on their descriptors (src/cli/stdio.ts): no stream is made, and
  // nothing is left to flush when the verb returns. The process then exits at once: what a natural
  // exit adds is freeing the heap, page by page (~5 ms of CPU per start here; bench/README.md).
  run: "process.exit(await main(process.argv.slice(2), { env: process.env, stdout: entry.createFdStream(1), stderr: entry.createFdStream(2) }));",
  commonjs: true,
});

// The code cache: this node runs a DEL once on a network whose plugins are not there, so that argv
// parsing, the config loading and validation, the runtime (locks, cache) and the error report are
// compiled and cached (no plugin runs, nothing is written outside the temporary directory).
const train = mkdtempSync(join(tmpdir(), "switchyard-cni-build-"));
try {
  const conflist = { cniVersion: "1.0.0", name: "build", plugins: [{ type: "bridge", ipam: { type: "host-local", ranges: [[{ subnet: "10.0.0.0/24" }]] } }] };
  writeFileSync(join(train, "10-build.conflist"), JSON.stringify(conflist));
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", NETCONFPATH: train, CNI_PATH: join(train, "none"), SWITCHYARD_CNI_WRITE_CODE_CACHE: "1" };
  const run = spawnSync(process.execPath, [here("bin/switchyard-cni"), "del", "build", join(train, "netns"), "--cache-dir", join(train, "cache"), "--json"], { env, encoding: "utf8", timeout: 60_000 });
  if (run.status !== 1 || !run.stdout.includes('"reason": "pluginNotFound"')) throw new Error(`training run of switchyard-cni: exit ${run.status}: ${run.stdout}${run.stderr}`);
} finally {
  rmSync(train, { recursive: true, force: true });
}
