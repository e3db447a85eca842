import { randomBytes } from "node:crypto";
import { expect, test } from "@playwright/test";
import { BASE_URL } from "../playwright.config";
import { dataOf, mutate, query } from "./support";

// Issue 12 §6 in the browser: a registrar token made on the Account page, shown once; a process
// (plain fetch, no cookies, no Origin) registers a member with it and the pool shows the member
// live; revoked on the page, the token is refused at once.
test.describe.configure({ mode: "serial" });

const hex = randomBytes(3).toString("hex");
const serviceName = `e2e-reg-${hex}`;
const tokenName = `e2e registrar ${hex}`;
const third = 16 + (parseInt(hex.slice(0, 2), 16) % 200);
const member = `10.77.${third}.9`;

/** What a script does: one tRPC mutation with the token, nothing else. */
function register(token: string, input: unknown, path = "services.register") {
  return fetch(`${BASE_URL}/api/trpc/${path}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ json: input }) });
}

test("a registrar token from the Account page registers a member a process names; revoked, it stops at once", async ({ page }) => {
  const cidrs = await query<string[]>(page.request, "services.cidrs");
  if (!cidrs.includes("10.232.0.0/16")) expect((await mutate(page.request, "services.setCidrs", { cidrs: [...cidrs, "10.232.0.0/16"] })).status()).toBe(200);
  const created = await mutate(page.request, "services.create", { name: serviceName, vip: `10.232.${third}.10`, spec: { ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }] } });
  expect(created.status()).toBe(200);
  const { id } = await dataOf<{ id: string }>(created);

  await page.goto("/account");
  const panel = page.getByRole("region", { name: "API tokens" });
  const form = panel.getByRole("form", { name: "Create API token" });
  await form.getByLabel("Name").fill(tokenName);
  await form.getByLabel("Services").fill(serviceName);
  await form.getByRole("button", { name: "Create registrar token" }).click();
  const token = (await panel.getByTestId("api-token").textContent())!.trim();
  expect(token).toMatch(/^syt_/);
  await panel.getByRole("button", { name: "Done" }).click();
  await expect(panel.getByTestId("api-token")).toHaveCount(0);
  const row = panel.getByRole("row", { name: new RegExp(tokenName) });
  await expect(row).toContainText(serviceName);
  await expect(row).toContainText("active");

  await page.goto(`/services/${id}`);
  await expect(page.getByText("No members: connections to the VIP are refused")).toBeVisible();
  const registered = await register(token, { service: serviceName, address: member, weight: 250 });
  expect(registered.status).toBe(200);
  // Live: the page follows the service's changes without a reload.
  const memberRow = page.getByTestId(`member-${member}`);
  await expect(memberRow).toContainText("registered through the API");
  await expect(memberRow).toContainText("250");
  // Set by the process, not edited on the page.
  await expect(memberRow.getByRole("spinbutton")).toHaveCount(0);
  // The token can do nothing else.
  expect((await fetch(`${BASE_URL}/api/trpc/services.list`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(403);

  await page.goto("/account");
  await expect(row).toContainText("127.0.0.1");
  await row.getByRole("button", { name: "Revoke" }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Revoke" }).click();
  await expect(row).toContainText("revoked");
  expect((await register(token, { service: serviceName, address: member }, "services.deregister")).status).toBe(401);

  await mutate(page.request, "services.deregister", { service: serviceName, address: member });
  await page.goto(`/services/${id}`);
  await expect(page.getByText("No members: connections to the VIP are refused")).toBeVisible();
});

// Issue 13 §1: a general token, made on the same page, acts as its user with the role it was
// given; read-only, it reads and is refused every change.
test("a general read-only token from the Account page lists networks over fetch and is refused a change", async ({ page }) => {
  const name = `e2e reader ${hex}`;
  await page.goto("/account");
  const panel = page.getByRole("region", { name: "API tokens" });
  const form = panel.getByRole("form", { name: "Create API token" });
  await form.getByLabel("Name").fill(name);
  await form.getByLabel("Kind").selectOption("general");
  await form.getByLabel("Role").selectOption("operator");
  await form.getByLabel("read-only").check();
  await form.getByRole("button", { name: "Create general token" }).click();
  const token = (await panel.getByTestId("api-token").textContent())!.trim();
  expect(token).toMatch(/^syt_/);
  await panel.getByRole("button", { name: "Done" }).click();
  await expect(panel.getByRole("row", { name: new RegExp(name) })).toContainText("general · operator · read-only");

  const headers = { authorization: `Bearer ${token}` };
  const listed = await fetch(`${BASE_URL}/api/trpc/networks.list?input=${encodeURIComponent(JSON.stringify({ json: {} }))}`, { headers });
  expect(listed.status).toBe(200);
  const refused = await fetch(`${BASE_URL}/api/trpc/networks.delete`, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify({ json: { id: "none" } }) });
  expect(refused.status).toBe(403);
  expect(await refused.text()).toContain("is read-only");
});

// Issue 13 §1 and §3: a token limited to one network, made on the page, calls the REST API with
// plain fetch; the REST API's reference is rendered from the same OpenAPI document it serves.
test("a token limited to one network reads it over the REST API and nothing else; the docs page shows each procedure's input", async ({ page }) => {
  const netName = `e2e-rest-${hex}`;
  const other = `e2e-rest-other-${hex}`;
  for (const [name, n] of [[netName, 1], [other, 2]] as const) {
    const made = await mutate(page.request, "networks.create", { text: JSON.stringify({ cniVersion: "1.0.0", name, plugins: [{ type: "bridge", ipam: { type: "host-local", subnet: `10.233.${(third + n) % 250}.0/24` } }] }), comment: "" });
    expect(made.status()).toBe(200);
  }
  await page.goto("/account");
  const panel = page.getByRole("region", { name: "API tokens" });
  const form = panel.getByRole("form", { name: "Create API token" });
  await form.getByLabel("Name").fill(`e2e rest ${hex}`);
  await form.getByLabel("Kind").selectOption("general");
  await form.getByLabel("Role").selectOption("viewer");
  await form.getByLabel("Only networks").fill(netName);
  await form.getByRole("button", { name: "Create general token" }).click();
  const token = (await panel.getByTestId("api-token").textContent())!.trim();
  await panel.getByRole("button", { name: "Done" }).click();
  await expect(panel.getByRole("row", { name: new RegExp(`e2e rest ${hex}`) })).toContainText(`networks ${netName}`);

  const rest = (path: string, body: unknown) => fetch(`${BASE_URL}/api/v1/${path}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  const listed = (await (await rest("networks.list", { limit: 100 })).json()) as { items: { name: string }[] };
  expect(listed.items.map((n) => n.name)).toEqual([netName]);
  expect((await rest("hosts.list", {})).status).toBe(403);

  await page.goto("/docs/api");
  const op = page.getByTestId("api-op-networks.create");
  await op.locator("summary").first().click();
  const fields = op.getByRole("table", { name: "Input of networks.create" });
  await expect(fields.getByRole("row", { name: /^text string/ })).toContainText("yes");
  const spec = (await (await fetch(`${BASE_URL}/api/v1/openapi.json`)).json()) as { paths: Record<string, unknown> };
  expect(Object.keys(spec.paths)).toContain("/api/v1/networks.create");
});
