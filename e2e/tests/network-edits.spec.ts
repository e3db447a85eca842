import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test, type APIRequestContext } from "@playwright/test";
import { BASE_URL } from "../playwright.config";
import { signInElsewhere } from "./support";

test.describe.configure({ mode: "serial" });

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const hex = randomBytes(3).toString("hex");
const third = parseInt(hex.slice(0, 2), 16);
const hostName = `e2e-ed-${hex}`;
const netName = `e2e-ed-${hex}`;
const bridge = `syed${hex}`;
const sandbox = `sytest-ed-${hex}`;
const dataDir = mkdtempSync(path.join(tmpdir(), "switchyard-e2e-edits-"));
let agent: ChildProcess | undefined;

async function call(request: APIRequestContext, procedure: string, input: unknown, kind: "query" | "mutation" = "mutation") {
  const res =
    kind === "mutation"
      ? await request.post(`/api/trpc/${procedure}`, { data: { json: input }, headers: { origin: BASE_URL } })
      : await request.get(`/api/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`);
  expect(res.status(), `${procedure}: ${await res.text()}`).toBe(200);
  return ((await res.json()) as { result: { data: { json: unknown } } }).result.data.json;
}

/** A list procedure's rows, whether it answers an array or a page object. */
function rowsOf<T>(answer: unknown): T[] {
  if (Array.isArray(answer)) return answer as T[];
  return (Object.values(answer as Record<string, unknown>).find(Array.isArray) ?? []) as T[];
}

async function poll<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
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
  rmSync(`/var/lib/cni/networks/${netName}`, { recursive: true, force: true });
});

test("a config keeps its key order on the detail page and in the export download", async ({ page }) => {
  const text = `{\n  "name": "e2e-order-${hex}",\n  "plugins": [\n    {\n      "ipam": { "type": "host-local", "subnet": "10.236.${third}.0/24" },\n      "type": "bridge"\n    }\n  ],\n  "cniVersion": "1.0.0"\n}\n`;
  const saved = (await call(page.request, "networks.create", { text, comment: "" })) as { id: string };
  await page.goto(`/networks/${saved.id}`);
  const shown = await page.getByLabel("Current conflist").locator(".cm-content").innerText();
  expect(shown.indexOf('"name"')).toBeLessThan(shown.indexOf('"cniVersion"'));
  expect(shown.indexOf('"ipam"')).toBeLessThan(shown.indexOf('"type": "bridge"'));
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export" }).click()]);
  expect(download.suggestedFilename()).toBe(`10-e2e-order-${hex}.conflist`);
  expect(readFileSync(await download.path(), "utf8")).toBe(text);
});

test("an overlap warning appears while typing, in the form and on import, before anything is saved", async ({ page }) => {
  const existing = `e2e-ov-${hex}`;
  await call(page.request, "networks.create", { text: JSON.stringify({ cniVersion: "1.0.0", name: existing, plugins: [{ type: "bridge", ipam: { type: "host-local", subnet: `10.237.${third}.0/24` } }] }), comment: "" });
  await page.goto("/networks/new");
  await page.getByLabel("Network name", { exact: true }).fill(`e2e-draft-${hex}`);
  await page.getByLabel("Subnet", { exact: true }).fill(`10.237.${third}.128/25`);
  const warnings = page.getByRole("status", { name: "Warnings" });
  await expect(warnings).toContainText(`overlaps subnet "10.237.${third}.0/24" of network "${existing}"`);
  await page.getByLabel("Subnet", { exact: true }).fill(`10.238.${third}.0/24`);
  await expect(page.getByText(`of network "${existing}"`)).toHaveCount(0);

  await page.goto("/networks");
  await page.getByRole("button", { name: "Import" }).click();
  await page.getByLabel("Or paste one config").fill(JSON.stringify({ cniVersion: "1.0.0", name: `e2e-imp-${hex}`, plugins: [{ type: "bridge", ipam: { type: "host-local", subnet: `10.237.${third}.0/26` } }] }));
  const preview = page.getByRole("status", { name: "Import preview" });
  await expect(preview).toContainText(`e2e-imp-${hex} would be created`);
  await expect(preview).toContainText(`of network "${existing}"`);
  const files = (await call(page.request, "networks.export", {}, "query")) as { fileName: string }[];
  expect(files.map((f) => f.fileName)).not.toContain(`10-e2e-draft-${hex}.conflist`);
  expect(files.map((f) => f.fileName)).not.toContain(`10-e2e-imp-${hex}.conflist`);
});

test("an edit lists the attachments it affects before saving; apply latest moves them; rollback asks first", async ({ page }) => {
  expect(process.getuid?.(), "run the end-to-end suite as root: the agent creates namespaces and runs CNI plugins").toBe(0);
  const { token } = (await call(page.request, "hosts.createJoinToken", { note: hostName, ttlMinutes: 10 })) as { token: string };
  agent = spawn(process.execPath, [path.join(root, "apps/agent/bin/switchyard-agent"), "--console-url", BASE_URL, "--join-token", token, "--hostname", hostName,
    "--data-dir", path.join(dataDir, "agent"), "--cache-dir", path.join(dataDir, "cache"), "--conf-dir", path.join(dataDir, "net.d"), "--netns-dir", "/run/netns", "--services", "off"], { stdio: "ignore" });
  const hostId = await poll("the host to enrol", async () => rowsOf<{ id: string; name: string }>(await call(page.request, "hosts.list", undefined, "query")).find((h) => h.name === hostName)?.id);
  const network = (await call(page.request, "networks.create", {
    text: JSON.stringify({ cniVersion: "1.0.0", name: netName, plugins: [{ type: "bridge", bridge, ipam: { type: "host-local", ranges: [[{ subnet: `10.239.${third}.0/24` }]] } }] }),
    comment: "",
  })) as { id: string };
  const { attachment } = (await call(page.request, "attachments.create", { hostId, networkId: network.id, target: { kind: "sandbox", name: sandbox }, ifName: "eth0", portMappings: [] })) as { attachment: { id: string } };
  await poll("the attachment to be ready", async () => ((await call(page.request, "attachments.get", { id: attachment.id }, "query")) as { state: string }).state === "ready");

  await page.goto(`/networks/${network.id}`);
  await page.getByRole("button", { name: "Edit" }).click();
  const affected = page.getByLabel("Affected attachments").first();
  await expect(affected).toContainText("Saving affects 1 attachment on 1 host");
  await expect(affected).toContainText(hostName);
  await expect(affected).toContainText(`${sandbox}/eth0 r1`);
  await page.getByLabel("Subnet", { exact: true }).fill(`10.239.${third}.128/25`);
  // The sandbox's address is outside the new subnet: shown before saving, saved once confirmed (ipam-blocks.spec.ts tests it further).
  await expect(page.getByRole("status", { name: "Stranded leases" })).toContainText(`on ${hostName}: `, { timeout: 30_000 });
  await page.getByRole("button", { name: "Save revision" }).click();
  await page.getByRole("alertdialog", { name: "Save and strand 1 held address?" }).getByRole("button", { name: "Save anyway" }).click();

  await page.getByRole("button", { name: "Apply r2 to all" }).click();
  await page.getByRole("alertdialog", { name: "Apply r2 to 1 attachment?" }).getByRole("button", { name: "Apply r2" }).click();
  const address = await poll("an address in the new range inside the namespace", async () => {
    let inside: { addr_info: { local: string }[] }[];
    try {
      inside = JSON.parse(execFileSync("ip", ["-n", sandbox, "-j", "addr", "show", "eth0"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })) as typeof inside;
    } catch {
      return undefined; // between the DEL and the ADD there is no eth0
    }
    return inside[0]?.addr_info.map((a) => a.local).find((a) => a.startsWith(`10.239.${third}.`) && Number(a.split(".")[3]) > 128);
  });
  expect(address).toBeTruthy();
  await expect(page.getByRole("button", { name: "Apply r2 to all" })).toHaveCount(0);

  // Rollback asks first: cancelling changes nothing.
  const history = page.getByRole("table", { name: "Revision history" });
  await expect(history.getByRole("row")).toHaveCount(3);
  await page.getByRole("button", { name: "Roll back to r1" }).click();
  const dialog = page.getByRole("alertdialog", { name: `Roll back ${netName} to r1?` });
  await expect(dialog).toContainText("Saving affects 1 attachment");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await expect(history.getByRole("row")).toHaveCount(3);
  await page.getByRole("button", { name: "Roll back to r1" }).click();
  await dialog.getByRole("button", { name: "Confirm rollback" }).click();
  await expect(history.getByRole("row")).toHaveCount(4);
  // The job view of the attachment offers the latest revision (r3) again.
  await page.goto(`/attachments/${attachment.id}/latest-job`);
  await expect(page.getByRole("button", { name: "Apply r3" })).toBeVisible();
});

test("a change proposed for review shows its plan, is approved and applied by a second person, and links the operations it started", async ({ page, browser }) => {
  // Runs after the test above: the agent runs and the sandbox's attachment is ready on this network.
  const network = rowsOf<{ id: string; name: string }>(await call(page.request, "networks.list", { q: netName }, "query")).find((n) => n.name === netName)!;
  await call(page.request, "proposals.setPolicy", { kind: "network", targetId: network.id, approvals: 1, whenInUse: true, authorMayApply: false });
  const bob = `e2e-bob-${hex}`;
  await call(page.request, "users.create", { username: bob, displayName: "", password: "bob's long password", role: "operator" });

  await page.goto(`/networks/${network.id}`);
  await page.getByRole("button", { name: "Edit" }).click();
  const even = third - (third % 2);
  await page.getByLabel("Subnet", { exact: true }).fill(`10.239.${even}.0/23`);
  await page.getByLabel("Change comment").fill("Widen to a /23");
  // Saving directly is refused by the policy; proposing is the way.
  await page.getByRole("button", { name: "Propose for review" }).click();
  await page.waitForURL(/\/proposals\/[^/]+$/);
  const proposalUrl = page.url();
  await expect(page.getByRole("heading", { name: "Widen to a /23" })).toBeVisible();
  await expect(page.getByTestId("plan-reapply")).toHaveText(`Applying re-applies 1 attachment on ${hostName} (1) with the new revision.`);
  await expect(page.getByRole("table", { name: "Attachments re-applied" })).toContainText(sandbox);
  await expect(page.getByLabel("Proposed change")).toContainText(`+                "subnet": "10.239.${even}.0/23"`);
  await expect(page.getByRole("button", { name: "Apply" })).toBeDisabled();
  await expect(page.getByTestId("apply-blocked")).toContainText("it needs 1 approval by someone other than the author");

  const { context, page: reviewer } = await signInElsewhere(browser, bob, "bob's long password");
  await reviewer.goto(proposalUrl);
  await reviewer.getByLabel("Comment").fill("The /23 is free in the lab plan.");
  await reviewer.getByRole("button", { name: "Approve" }).click();
  await expect(reviewer.getByRole("region", { name: "Reviews" })).toContainText("approved");
  await reviewer.getByRole("button", { name: "Apply" }).click();
  const applied = reviewer.getByRole("region", { name: "Applied" });
  await expect(applied).toContainText(`Applied by ${bob}`);
  const operation = applied.getByRole("link", { name: `re-apply on ${hostName}` });
  await expect(operation).toBeVisible();
  // The operation it started runs on the host: its page reaches succeeded.
  await operation.click();
  await expect(reviewer.getByTestId("op-status")).toHaveText("succeeded", { timeout: 60_000 });
  await context.close();
  // The author's page shows it applied too.
  await page.goto(proposalUrl);
  await expect(page.getByTestId("proposal-state")).toHaveText("applied");
});
