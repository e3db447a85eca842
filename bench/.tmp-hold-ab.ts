import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createHelperSpawner, writeFileAtomic } from "@switchyard/cni";
const N = Number(process.argv[2] ?? 150);
const dir = mkdtempSync("/tmp/sytest-hold-");
const helper = createHelperSpawner();
const spec = { file: "/bin/cat", env: { PATH: "/usr/bin:/bin" }, stdin: '{"cniVersion":"1.0.0"}', timeoutMs: 10000, maxStdoutBytes: 1 << 20, maxStderrBytes: 1 << 16 };
const intent = JSON.stringify({ operationId: "x".repeat(25), conflist: { plugins: [{ type: "bridge", ipam: { ranges: [[{ subnet: "10.1.0.0/16" }]] } }] } });
const t = { serial: [] as number[], held: [] as number[] };
const runs = {
  serial: async (i: number) => { await writeFileAtomic(join(dir, `${i}.json`), intent); return helper.run(spec); },
  held: async (i: number) => helper.run({ ...spec, stdinAfter: writeFileAtomic(join(dir, `${i}.json`), intent) }),
};
await runs.serial(-1); await runs.held(-2);
for (let i = 0; i < N; i++) {
  for (const k of (i % 2 ? ["held", "serial"] : ["serial", "held"]) as ("serial" | "held")[]) {
    const t0 = performance.now(); const r = await runs[k](i * 2 + (k === "held" ? 1 : 0)); t[k].push(performance.now() - t0);
    if (r.stdout !== spec.stdin) throw new Error("bad output");
    await new Promise((r) => setTimeout(r, 20));
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
console.log(`intent then spawn: ${med(t.serial).toFixed(2)} ms; spawn held on the intent: ${med(t.held).toFixed(2)} ms; paired ${med(t.held.map((x, i) => x - t.serial[i]!)).toFixed(2)} ms`);
helper.close(); rmSync(dir, { recursive: true, force: true });
