// The userspace proxy (issue 14): its config (what the agent hands it), and the pieces a worker is
// made of. The process itself is process.ts, run by the agent's own file as `switchyard-agent proxy`.
export * from "./config";
export type { MetricFamily, ParentMessage, ProxyEvent, WatchedFlow } from "./process";
export { type ProxyConfigProblem, proxyConfigFrom } from "./from-desired";
