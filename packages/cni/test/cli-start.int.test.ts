/**
 * The built switchyard-cni at start (issue 10 item 17): the help and the usage errors read exactly
 * as they did when commander produced them (fixtures/cli-output/, captured from that build; the
 * add and gc help since gained issue 17's --pass-env and --config-source in the same layout), and
 * they are answered without evaluating the runtime, the config validation (zod) or node:crypto /
 * node:child_process. A probe preloaded into the process records every require() the bundle makes
 * and whether zod was evaluated; a verb that runs is the probe's positive control. Also: output
 * on the descriptors (a closed pipe, a terminal's width), no reader file left behind, and what the
 * bundle leaves out.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { formatProgramHelp } from "../src/cli/help";

const BIN = resolve(fileURLToPath(new URL("../bin/switchyard-cni", import.meta.url)));
const FIXTURES = fileURLToPath(new URL("./fixtures/cli-output/", import.meta.url));
const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");

const PROBE = `
const Module = require("node:module");
const { writeFileSync } = require("node:fs");
const requires = [];
const load = Module._load;
Module._load = function (request, parent, isMain) {
  requires.push(request);
  return load.apply(this, arguments);
};
process.on("exit", () => writeFileSync(process.env.PROBE_OUT, JSON.stringify({ requires, zod: "__zod_globalConfig" in globalThis })));
`;

interface Probed {
  code: number | null;
  stdout: string;
  stderr: string;
  requires: string[];
  zod: boolean;
}

function runProbed(args: string[], env: Record<string, string> = {}): Probed {
  const dir = mkdtempSync(join(tmpdir(), "sy-cli-start-"));
  const probe = join(dir, "probe.cjs");
  const out = join(dir, "probe.json");
  writeFileSync(probe, PROBE);
  const r = spawnSync(process.execPath, ["--require", probe, BIN, ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PROBE_OUT: out, ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
  const seen = JSON.parse(readFileSync(out, "utf8")) as { requires: string[]; zod: boolean };
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ...seen };
}

/** What only the verbs' side (cli/verbs.ts and the runtime) requires. */
const RUNTIME_ONLY = ["node:child_process", "node:fs/promises", "node:timers/promises", "node:crypto", "crypto", "child_process"];

describe("switchyard-cni at start: help and usage errors, from the built bundle", () => {
  it("is built", () => {
    expect(existsSync(resolve(BIN, "../../dist/switchyard-cni.cjs")), "run `npx turbo run build --filter=@switchyard/cni`").toBe(true);
  });

  const cases: { name: string; args: string[]; code: number; stdout?: string; stderr?: string }[] = [
    { name: "no arguments: the help on stderr", args: [], code: 2, stdout: "", stderr: fixture("no-arguments.stderr.txt") },
    { name: "--help", args: ["--help"], code: 0, stdout: fixture("help.stdout.txt"), stderr: "" },
    { name: "help for a verb", args: ["add", "--help"], code: 0, stdout: fixture("add-help.stdout.txt"), stderr: "" },
    { name: "help for gc (its own options, defaults)", args: ["help", "gc"], code: 0, stdout: fixture("gc-help.stdout.txt"), stderr: "" },
    { name: "an unknown option, with a suggestion", args: ["add", "xnet", "/x", "--jsn"], code: 2, stdout: "", stderr: fixture("unknown-option.stderr.txt") },
    { name: "an unknown verb with --json", args: ["frobnicate", "xnet", "/run/netns/x", "--json"], code: 2, stdout: fixture("unknown-verb-json.stdout.txt"), stderr: "" },
  ];
  for (const c of cases) {
    it(`${c.name}: as before, and nothing of the runtime evaluated`, () => {
      const r = runProbed(c.args);
      expect(r.code, r.stderr).toBe(c.code);
      expect(r.stdout).toBe(c.stdout);
      expect(r.stderr).toBe(c.stderr);
      expect(r.zod, "zod was evaluated").toBe(false);
      expect(r.requires.filter((m) => RUNTIME_ONLY.includes(m))).toEqual([]);
    });
  }

  it("a verb that runs evaluates the runtime (the probe sees it), and derives cnitool's container id without node:crypto", () => {
    const dir = mkdtempSync(join(tmpdir(), "sy-cli-start-conf-"));
    writeFileSync(join(dir, "10-other.conflist"), JSON.stringify({ cniVersion: "1.0.0", name: "other", plugins: [{ type: "bridge", ipam: {} }] }));
    const netns = "/run/netns/sytest-cli-start-none";
    const r = runProbed(["del", "other", netns, "--json", "--cache-dir", join(dir, "cache")], { NETCONFPATH: dir, CNI_PATH: dir });
    // No bridge plugin in CNI_PATH: DEL fails, after the runtime was loaded and the id derived.
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, verb: "del", network: "other", containerId: `cnitool-${createHash("sha512").update(netns).digest("hex").slice(0, 20)}`, error: { code: 50 } });
    expect(r.zod).toBe(true);
    expect(r.requires).toContain("node:child_process");
    expect(r.requires).not.toContain("node:crypto");
  });
});

describe("switchyard-cni leaves no file of its own behind", () => {
  it("a DEL that ran its plugins leaves no reader file in the cache dir's locks (the process exits within the lock's linger)", () => {
    const dir = mkdtempSync(join(tmpdir(), "sy-cli-readers-"));
    mkdirSync(join(dir, "plugins"));
    // Stand-ins for the plugins: a DEL of an attachment that is not there prints nothing and succeeds.
    for (const type of ["bridge", "host-local"]) writeFileSync(join(dir, "plugins", type), "#!/bin/sh\ncat >/dev/null\nexit 0\n", { mode: 0o755 });
    writeFileSync(join(dir, "10-other.conflist"), JSON.stringify({ cniVersion: "1.0.0", name: "other", plugins: [{ type: "bridge", ipam: { type: "host-local", ranges: [[{ subnet: "10.0.0.0/24" }]] } }] }));
    const cacheDir = join(dir, "cache");
    for (let i = 0; i < 2; i++) {
      const r = spawnSync(process.execPath, [BIN, "del", "other", "/run/netns/sytest-cli-start-none", "--json", "--cache-dir", cacheDir], {
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NETCONFPATH: dir, CNI_PATH: join(dir, "plugins") },
      });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, verb: "del", network: "other" });
      // It did register (the directory exists), and took its file with it.
      expect(readdirSync(join(cacheDir, "locks", "readers"))).toEqual([]);
    }
  });
});

describe("switchyard-cni's bundle and its code cache", () => {
  const bundle = resolve(BIN, "../../dist/switchyard-cni.cjs");

  it("the bundle leaves out what no verb uses: jsonc-parser's formatter and the caches it builds at load", () => {
    // esbuild names each bundled ES module's init function after its path.
    const text = readFileSync(bundle, "utf8");
    expect(text).toContain("jsonc-parser/lib/esm/impl/parser.js");
    expect(text).not.toContain("jsonc-parser/lib/esm/impl/format.js");
    expect(text).not.toContain("jsonc-parser/lib/esm/impl/string-intern.js");
  });

  it("the build's cache fits this node: V8 accepts it for the bundle, as bin/switchyard-cni loads it", () => {
    const check = `const { Script } = require("node:vm"); const { wrap } = require("node:module"); const fs = require("node:fs");
      const s = new Script(wrap(fs.readFileSync(${JSON.stringify(bundle)}, "utf8")), { filename: ${JSON.stringify(bundle)}, cachedData: fs.readFileSync(${JSON.stringify(`${bundle}.cache`)}) });
      process.stdout.write(String(s.cachedDataRejected));`;
    const r = spawnSync(process.execPath, ["-e", check], { encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
    expect(r.stdout, r.stderr).toBe("false");
  });

  it("a missing or foreign cache only costs the compile: the output is the same", () => {
    for (const cache of [undefined, Buffer.from("not a V8 code cache"), readFileSync(`${bundle}.cache`).subarray(0, 1000)]) {
      const root = mkdtempSync(join(tmpdir(), "sy-cli-cache-"));
      mkdirSync(join(root, "bin"));
      mkdirSync(join(root, "dist"));
      for (const f of ["switchyard-cni", "package.json"]) copyFileSync(join(BIN, "..", f), join(root, "bin", f));
      copyFileSync(bundle, join(root, "dist/switchyard-cni.cjs"));
      if (cache) writeFileSync(join(root, "dist/switchyard-cni.cjs.cache"), cache);
      const r = spawnSync(process.execPath, [join(root, "bin/switchyard-cni"), "add", "--help"], { encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(fixture("add-help.stdout.txt"));
      expect(r.stderr).toBe("");
    }
  });
});

describe("switchyard-cni's output, written on the descriptors (src/cli/stdio.ts)", () => {
  const hasScript = spawnSync("script", ["--version"], { encoding: "utf8" }).status === 0;

  it("a reader that went away ends the output quietly: no crash, the verb's exit status", () => {
    // `true` exits without reading: the help's write meets a closed pipe (EPIPE). process.stdout
    // made that an unhandled 'error' event: a stack trace and exit status 1.
    for (let i = 0; i < 3; i++) {
      const r = spawnSync("sh", ["-c", '("$0" "$1" --help; echo "exit status $?" >&2) | true', process.execPath, BIN], { encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toBe("exit status 0\n");
    }
  });

  it.runIf(hasScript)("on a terminal, the help is wrapped to the terminal's width, as commander did", () => {
    // script(1) runs the command on a pseudo-terminal of 60 columns.
    const r = spawnSync("script", ["-qec", `stty cols 60; "${process.execPath}" "${BIN}" --help`, "/dev/null"], { encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TERM: "dumb" } });
    expect(r.status, r.stderr).toBe(0);
    const shown = r.stdout.replace(/\r\n/g, "\n");
    expect(shown).toBe(formatProgramHelp(60));
    expect(shown).not.toBe(fixture("help.stdout.txt"));
  });
});
