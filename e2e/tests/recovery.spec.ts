import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test, type APIRequestContext } from "@playwright/test";
import { BASE_URL } from "../playwright.config";
import { query, requireRoot } from "./support";

// Issue 17: an attachment stuck on the config its host cached comes free through "Detach with the
// current network revision". A real agent on this host (root: namespaces, CNI plugins).
requireRoot();

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const hex = randomBytes(3).toString("hex");
const hostName = `e2e-rec-${hex}`;
const networkName = `e2e-rec-${hex}`;
const bridge = `syrec${hex}`;
const sandbox = `sytest-rec-${hex}`;
const dataDir = mkdtempSync(path.join(tmpdir(), "switchyard-e2e-recovery-"));
const cacheDir = path.join(dataDir, "cache");
let agent: ChildProcess | undefined;

async function call<T>(request: APIRequestContext, procedure: string, input: unknown): Promise<T> {
  const res = await request.post(`/api/trpc/${procedure}`, { data: { json: input }, headers: { origin: BASE_URL } });
  expect(res.status(), `${procedure}: ${await res.text()}`).toBe(200);
  return ((await res.json()) as { result: { data: { json: T } } }).result.data.json;
}


test.afterAll(() => {
  agent?.kill("SIGTERM");
  for (const args of [["netns", "del", sandbox], ["link", "del", bridge]]) {
    try {
      execFileSync("ip", args, { stdio: "ignore" });
    } catch {
      // already gone
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
});

test("a stuck attachment's 'Detach with the current revision' frees it: the row leaves the failed state, the host is clean", async ({ page }) => {
  const conflist = (fixed: boolean) =>
    JSON.stringify({
      cniVersion: "1.0.0",
      // The spec's own example: this runtime picks 1.1.0, Debian's plugins stop at 1.0.0.
      ...(fixed ? {} : { cniVersions: ["1.0.0", "1.1.0"] }),
      name: networkName,
      plugins: [{ type: "bridge", bridge, ipam: { type: "host-local", dataDir: path.join(dataDir, "ipam"), ranges: [[{ subnet: `10.233.${parseInt(hex.slice(0, 2), 16)}.0/24` }]] } }],
    });
  const network = await call<{ id: string }>(page.request, "networks.create", { text: conflist(false), comment: "e2e recovery" });
  const { token } = await call<{ token: string }>(page.request, "hosts.createJoinToken", { note: hostName, ttlMinutes: 10 });
  agent = spawn(process.execPath, [path.join(root, "apps/agent/bin/switchyard-agent"), "--console-url", BASE_URL, "--join-token", token, "--hostname", hostName,
    "--data-dir", path.join(dataDir, "agent"), "--cache-dir", cacheDir, "--conf-dir", path.join(dataDir, "net.d"), "--netns-dir", "/run/netns", "--services", "off", "--cni-path", "/usr/lib/cni"], { stdio: "ignore" });
  let hostId: string | undefined;
  await expect.poll(async () => (hostId = (await query<{ items: { id: string; name: string }[] }>(page.request, "hosts.list", null)).items.find((h) => h.name === hostName)?.id), { timeout: 30_000 }).toBeTruthy();

  // Attach fails on the plugins' CNI version; the detach fails the same way: stuck.
  const { attachment } = await call<{ attachment: { id: string } }>(page.request, "attachments.create", { hostId, networkId: network.id, target: { kind: "sandbox", name: sandbox }, ifName: "eth0", portMappings: [] });
  const stateOf = async () => (await query<{ state: string; present: boolean; lastError: string }>(page.request, "attachments.get", { id: attachment.id }));
  await expect.poll(async () => (await stateOf()).state, { timeout: 30_000 }).toBe("failed");
  await call(page.request, "attachments.detach", { id: attachment.id });
  await expect.poll(async () => { const a = await stateOf(); return `${a.state} ${a.present}`; }, { timeout: 30_000 }).toBe("failed false");
  expect((await stateOf()).lastError).toMatch(/incompatible CNI versions/i);

  // The fix: revision 2. Then the way out, from the attachments page.
  await call(page.request, "networks.update", { id: network.id, text: conflist(true), comment: "fix cniVersions", expectedRevision: 1 });
  await page.goto("/attachments?state=failed");
  const row = page.getByTestId(`attachment-row-${sandbox}`);
  await expect(row.getByTestId("attachment-state")).toHaveText(/failed/i);
  await row.getByRole("button", { name: /with the current network revision$/ }).click();
  const dialog = page.getByRole("dialog", { name: "Detach with the current network revision" });
  await expect(dialog).toContainText("incompatible CNI versions");
  await dialog.getByRole("button", { name: "Yes, detach with r2" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Detach with the current network revision of" })).toBeVisible();
  // The row leaves the stuck (failed) view, and shows as detached.
  await expect(row).toHaveCount(0, { timeout: 30_000 });
  await page.getByRole("checkbox", { name: "detached" }).check();
  await expect(row.getByTestId("attachment-state")).toHaveText(/detached/i);
  const results = path.join(cacheDir, "results");
  expect(existsSync(results) ? readdirSync(results).filter((f) => f.startsWith(networkName)) : []).toEqual([]);
  expect(existsSync(path.join(dataDir, "ipam", networkName)) ? readdirSync(path.join(dataDir, "ipam", networkName)).filter((f) => /^\d/.test(f)) : []).toEqual([]);
  expect(execFileSync("ip", ["netns", "list"], { encoding: "utf8" })).not.toContain(sandbox);

  // The job says what it did.
  await page.goto(`/attachments/${attachment.id}/latest-job`);
  await expect(page.getByRole("heading", { level: 1 })).toContainText("detach");
  await expect(page.getByRole("heading", { level: 1 })).toContainText("with r2");
  await expect(page.getByTestId("op-log")).toContainText("with revision 2 only (not the cached config)");
});
