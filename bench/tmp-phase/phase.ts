import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { convertResult, parseResult, checkNetns, validateAttachmentIds, buildPluginEnv, loadNetworkList, findPlugin } from "../../packages/cni/src/index";
import { readCachedAttachment, writeCachedAttachment, deleteCachedAttachment } from "../../packages/cni/src/cache";
import { createHolderIndex } from "../../packages/cni/src/cache/holders";
import { createCacheDirLock } from "../../packages/cni/src/lock";
import { loadCachedNetworkList } from "../../packages/cni/src/load";

const dir = mkdtempSync(join(tmpdir(), "sytest-phase-"));
const raw = { cniVersion: "1.0.0", interfaces: [{ name: "sybr1", mac: "aa:bb:cc:dd:ee:ff" }, { name: "veth1234", mac: "aa:bb:cc:dd:ee:01" }, { name: "eth0", mac: "aa:bb:cc:dd:ee:02", sandbox: "/run/netns/x" }], ips: [{ interface: 2, address: "10.250.0.5/16", gateway: "10.250.0.1" }], routes: [{ dst: "0.0.0.0/0" }], dns: {} };
const net = loadNetworkList(JSON.stringify({ cniVersion: "1.0.0", name: "pnet", plugins: [{ type: "bridge", bridge: "sybr1", ipam: { type: "host-local", dataDir: "/tmp/x", ranges: [[{ subnet: "10.250.0.0/16" }]] } }] }));
const lock = createCacheDirLock(dir);
const holders = createHolderIndex(dir);
const ns = "/run/netns/cnih-r1";
const key = { networkName: "pnet", containerId: "c1", ifName: "eth0" };
const phases: Record<string, number[]> = {};
async function t(name: string, f: () => unknown) { const t0 = performance.now(); await f(); (phases[name] ??= []).push((performance.now() - t0) * 1000); }
for (let i = 0; i < 150; i++) {
  await t("validate", () => validateAttachmentIds(key));
  await t("checkNetns", () => checkNetns(ns));
  await t("findPlugin x2", async () => { await findPlugin("bridge", ["/opt/cni/bin", "/usr/lib/cni"]); await findPlugin("host-local", ["/opt/cni/bin", "/usr/lib/cni"]); });
  await t("env", () => buildPluginEnv({ verb: "ADD", pluginDirs: ["/opt/cni/bin"], containerId: "c1", netns: ns, ifName: "eth0" }));
  await t("lock shared+attachment", () => lock.shared(() => lock.attachment("pnet-c1-eth0", async () => {})));
  await t("holders.find", () => holders.find(ns, "eth0", key));
  await t("parse+convert x2", () => { const r = parseResult(raw, "1.0.0"); convertResult(r, "1.0.0"); convertResult(r, "1.1.0"); });
  await t("cache write", () => writeCachedAttachment(dir, { kind: "cniCacheV1", containerId: "c1", config: net.bytes, ifName: "eth0", networkName: "pnet", netns: ns, result: raw }));
  await t("cache read", () => readCachedAttachment(dir, key));
  await t("loadCachedNetworkList", () => loadCachedNetworkList(net.bytes));
  await t("cache delete", () => deleteCachedAttachment(dir, key));
  await sleep(25);
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
let sum = 0;
for (const [k, v] of Object.entries(phases)) { sum += med(v.slice(20)); console.log(`${k.padEnd(28)} ${med(v.slice(20)).toFixed(0).padStart(6)} µs`); }
console.log(`sum ${sum.toFixed(0)} µs`);
