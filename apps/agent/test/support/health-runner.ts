// Runs the agent's health checker inside a test namespace (started by services-health.int.test.ts
// with `ip netns exec NS node --import tsx`): the members it checks live in namespaces the test
// made, so the checker must run where their addresses route. Targets come as JSON in argv[2];
// every report goes to stdout as one JSON line; each stdin line replaces the targets. Exits on SIGTERM or after argv[3] ms; argv[4] is maxConcurrent.
import { createInterface } from "node:readline";
import { createHealthChecker } from "../../src/services/health-checker";

const targets = JSON.parse(process.argv[2] ?? "[]");
const lifetimeMs = Number(process.argv[3] ?? 60_000);
const maxConcurrent = Number(process.argv[4] ?? 4);
const started = Date.now();
const checker = createHealthChecker({
  maxConcurrent,
  onReport: (r) => console.log(JSON.stringify({ key: r.key, t: r.outcome.at - started, result: r.outcome.result, message: r.outcome.message, latencyMs: r.outcome.latencyMs, status: r.state.status, failures: r.state.consecutiveFailures, successes: r.state.consecutiveSuccesses, transition: r.transition ? `${r.transition.from}>${r.transition.to}` : null })),
});
checker.setTargets(targets);
console.log(JSON.stringify({ ready: true }));
// Each stdin line is a new target list (members joining, leaving, changing their check).
createInterface({ input: process.stdin }).on("line", (line) => {
  try {
    checker.setTargets(JSON.parse(line));
    console.log(JSON.stringify({ updated: true }));
  } catch (e) {
    console.log(JSON.stringify({ refused: String(e instanceof Error ? e.message : e) }));
  }
});
const stop = () => void checker.stop().then(() => process.exit(0));
process.on("SIGTERM", stop);
setTimeout(stop, lifetimeMs).unref();
