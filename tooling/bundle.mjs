// Builds one deployable (the agent, switchyard-cni) into ONE self-contained JavaScript file for
// Node 20: no TypeScript compiled at start, no node_modules beside it, so a host can download the
// file and run it with `node`. The bundle also carries the CNI spawn helper (packages/cni/src/exec/
// spawner-child.mjs with run-process.mjs), built on its own into a small CommonJS script that the
// bundle holds as a string (SWITCHYARD_BUNDLED_HELPER_SOURCE): spawner.ts starts the helper as
// `node - spawner-child` with that script on its stdin, so the helper evaluates a few kilobytes,
// not the program (a bare node's memory; bench/README.md, agent-memory.ts).
//
// The agent is an ES module. switchyard-cni, a command started for each operation, is CommonJS
// (`commonjs: true`, a .cjs file): Node 20 loads it without starting its ES module loader, which
// costs a short-lived process more than the loading itself (bench/README.md). Its `await import()`s
// stay lazy: esbuild turns each into the module's init function, run on first use.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SPAWNER_CHILD = resolve(ROOT, "packages/cni/src/exec/spawner-child.mjs");

/** The spawn helper as one CommonJS script (Node runs a script read from stdin as CommonJS: no ES module loader to start). */
async function buildHelperSource() {
  const result = await build({
    entryPoints: [SPAWNER_CHILD],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    write: false,
    legalComments: "none",
    minifySyntax: true,
    minifyWhitespace: true,
    logLevel: "warning",
  });
  return result.outputFiles[0].text;
}

/**
 * Packages whose modules do nothing at load but define things, though their package.json does not
 * say so ("sideEffects": false): esbuild may then leave out what the program never uses.
 * jsonc-parser: its formatter and editor, and the string caches they build at load (~2 ms of every
 * switchyard-cni start; bench/README.md), are never used.
 */
const SIDE_EFFECT_FREE = /[\\/]node_modules[\\/]jsonc-parser[\\/]/;

/** @type {import("esbuild").Plugin} */
const sideEffectFreePackages = {
  name: "side-effect-free-packages",
  setup(build) {
    build.onResolve({ filter: /^(jsonc-parser|\.\.?\/.*)$/ }, async (args) => {
      if (args.pluginData?.resolving) return undefined;
      if (args.path !== "jsonc-parser" && !SIDE_EFFECT_FREE.test(args.importer)) return undefined;
      const { pluginData: _none, ...rest } = args;
      const resolved = await build.resolve(args.path, { kind: rest.kind, importer: rest.importer, resolveDir: rest.resolveDir, pluginData: { resolving: true } });
      if (resolved.errors.length > 0 || !SIDE_EFFECT_FREE.test(resolved.path)) return undefined;
      return { path: resolved.path, sideEffects: false };
    });
  },
};

/**
 * zod's translations of its error messages (`z.locales`, ~40 languages): ~300 KB, a fifth of the
 * agent's file, parsed at every start and held in memory as long as the process runs. The programs
 * here speak English (zod's default, which it imports itself): `z.locales` holds `en` alone.
 */
const ZOD_LOCALES = /[\\/]node_modules[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/;

/** @type {import("esbuild").Plugin} */
const englishOnlyZod = {
  name: "english-only-zod",
  setup(build) {
    build.onLoad({ filter: ZOD_LOCALES }, (args) => ({ contents: 'export { default as en } from "./en.js";', loader: "js", resolveDir: dirname(args.path) }));
  },
};

/** What the bundle may never contain: the console's side (database, Next.js). */
const FORBIDDEN_INPUTS = [/node_modules\/@prisma\//, /node_modules\/next\//, /packages\/db\//, /node_modules\/@electric-sql\//];

/**
 * @param {object} options
 * @param {string} options.packageDir the package being built (absolute)
 * @param {string} options.entry its entry module, relative to packageDir; it exports `main`
 * @param {string} options.outfile relative to packageDir
 * @param {string} options.run statement(s) that call `main` (in scope, and the entry module as `entry`) and set the exit status
 * @param {boolean} [options.commonjs] a CommonJS file (outfile ends in .cjs) instead of an ES module
 */
export async function bundleProgram({ packageDir, entry, outfile, run, commonjs = false }) {
  const outPath = resolve(packageDir, outfile);
  const entryPath = resolve(packageDir, entry);
  // The real entry is this wrapper: it checks the Node.js version before the program is evaluated.
  const body = `
const major = Number(process.versions.node.split(".")[0]);
if (major < 20) {
  process.stderr.write("Node.js " + process.versions.node + " is too old: this program needs Node.js 20 or newer\\n");
  process.exit(2);
}
const entry = await import(${JSON.stringify(entryPath)});
const { main } = entry;
${run}
`;
  // CommonJS has no top-level await.
  const wrapper = commonjs ? `(async () => {${body}})();` : body;
  const result = await build({
    stdin: { contents: wrapper, resolveDir: packageDir, sourcefile: "bundle-entry.mjs", loader: "js" },
    outfile: outPath,
    bundle: true,
    platform: "node",
    format: commonjs ? "cjs" : "esm",
    target: "node20",
    // One file: dynamic imports stay inside it (evaluated on demand).
    splitting: false,
    banner: {
      js: commonjs
        ? // import.meta.url of a CommonJS file (a module that finds files beside it), worked out on use.
          `const __importMeta = { get url() { return require("node:url").pathToFileURL(__filename).href; } };`
        : // CommonJS dependencies call require() for Node's built-ins; an ES module has none of its own.
          `import { createRequire as __createRequire } from "node:module";\nconst require = __createRequire(import.meta.url);`,
    },
    define: { SWITCHYARD_BUNDLED_HELPER_SOURCE: JSON.stringify(await buildHelperSource()), ...(commonjs ? { "import.meta": "__importMeta" } : {}) },
    legalComments: "none",
    sourcemap: false,
    // Smaller source parses faster at every start; names stay readable in stack traces.
    minifySyntax: true,
    minifyWhitespace: true,
    // ES module builds first: some packages' "main" is a UMD build that require()s its own files.
    mainFields: ["module", "main"],
    metafile: true,
    plugins: [sideEffectFreePackages, englishOnlyZod],
    logLevel: "warning",
  });
  const inputs = Object.keys(result.metafile.inputs);
  const forbidden = inputs.filter((input) => FORBIDDEN_INPUTS.some((re) => re.test(input)));
  if (forbidden.length > 0) {
    throw new Error(`${relative(ROOT, outPath)} would contain the console's side: ${forbidden.slice(0, 5).join(", ")}; import types only from those packages`);
  }
  const bytes = readFileSync(outPath);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  // sha256sum's format, so `sha256sum -c` checks a downloaded copy.
  writeFileSync(`${outPath}.sha256`, `${sha256}  ${outfile.split("/").pop()}\n`);
  console.log(`${relative(ROOT, outPath)}: ${(bytes.length / 1024).toFixed(0)} KiB, ${inputs.length} modules, sha256 ${sha256}`);
  return { outPath, sha256, bytes: bytes.length };
}
