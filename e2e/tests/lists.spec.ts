import { randomBytes } from "node:crypto";
import { expect, test, type APIRequestContext } from "@playwright/test";
import { BASE_URL } from "../playwright.config";

/** The lists: server paging and search, URL state, virtual scrolling, state filter and purge, audit names. */

test.describe.configure({ mode: "serial" });

const hex = randomBytes(3).toString("hex");
const SCROLL = `zz-scroll-${hex}`;
const COUNT = 250;
const conflist = (name: string, third: number) =>
  JSON.stringify({ cniVersion: "1.0.0", name, plugins: [{ type: "bridge", bridge: "sy-scroll0", ipam: { type: "host-local", ranges: [[{ subnet: `10.241.${third}.0/24` }]] } }] });
const scrollName = (i: number) => `${SCROLL}-${String(i).padStart(3, "0")}`;

async function mutate(request: APIRequestContext, procedure: string, input: unknown) {
  const res = await request.post(`/api/trpc/${procedure}`, { data: { json: input }, headers: { origin: BASE_URL } });
  expect(res.status(), `${procedure}: ${await res.text()}`).toBe(200);
  return ((await res.json()) as { result: { data: { json: unknown } } }).result.data.json;
}

test.beforeAll(async ({ browser }) => {
  const context = await browser.newContext({ storageState: ".auth/admin.json" });
  // Imported 200 at a time (the import's limit): 250 networks in two calls.
  for (let start = 0; start < COUNT; start += 200) {
    const files = Array.from({ length: Math.min(200, COUNT - start) }, (_, k) => ({ fileName: `${scrollName(start + k)}.conflist`, text: conflist(scrollName(start + k), (start + k) % 250) }));
    await mutate(context.request, "networks.import", { files });
  }
  await context.close();
});

test.afterAll(async ({ browser }) => {
  const context = await browser.newContext({ storageState: ".auth/admin.json" });
  const input = encodeURIComponent(JSON.stringify({ json: { q: SCROLL, limit: 200 } }));
  for (let round = 0; round < 3; round++) {
    const res = await context.request.get(`/api/trpc/networks.list?input=${input}`);
    const items = ((await res.json()) as { result: { data: { json: { items: { id: string; name: string }[] } } } }).result.data.json.items;
    if (items.length === 0) break;
    for (const n of items) await mutate(context.request, "networks.delete", { id: n.id, confirmName: n.name });
  }
  await context.close();
});

test("a large list scrolls with a bounded number of rows in the page, loading pages as it goes", async ({ page }) => {
  await page.goto(`/networks?q=${SCROLL}`);
  const table = page.getByRole("table", { name: "Networks" });
  const rendered = table.locator("tbody tr[data-index]");
  await expect(table.getByRole("link", { name: scrollName(0), exact: true })).toBeVisible();
  const scroller = page.getByTestId("scroll-Networks");
  // Scroll to the end until every page is loaded (bounded: at most 40 steps).
  for (let step = 0; step < 40; step++) {
    await scroller.evaluate((el) => el.scrollTo(0, el.scrollHeight));
    if (await table.getByRole("link", { name: scrollName(COUNT - 1), exact: true }).isVisible()) break;
    await page.waitForTimeout(150);
  }
  await expect(table.getByRole("link", { name: scrollName(COUNT - 1), exact: true })).toBeVisible();
  await expect(page.getByText(`${COUNT} shown`)).toBeVisible();
  const inDom = await rendered.count();
  expect(inDom).toBeGreaterThan(5);
  expect(inDom).toBeLessThanOrEqual(60);
  // The first rows left the DOM as they scrolled out.
  await expect(table.getByRole("link", { name: scrollName(0), exact: true })).toHaveCount(0);
});

test("search, sort and filters live in the URL and survive a reload", async ({ page }) => {
  await page.goto("/networks");
  const table = page.getByRole("table", { name: "Networks" });
  // Rows drawn: the page is hydrated, so typing reaches the search box's handler.
  await expect(table.locator("tbody tr[data-index]").first()).toBeVisible();
  await page.getByLabel("Search networks").fill(`${SCROLL}-00`);
  await expect(page).toHaveURL(new RegExp(`q=${SCROLL}-00`));
  await expect(table.locator("tbody tr[data-index]")).toHaveCount(10);
  await table.getByRole("button", { name: /^Name/ }).click();
  await expect(page).toHaveURL(/dir=desc/);
  await expect(table.locator("tbody tr[data-index]").first()).toContainText(scrollName(9));
  await page.reload();
  await expect(page.getByLabel("Search networks")).toHaveValue(`${SCROLL}-00`);
  await expect(table.locator("tbody tr[data-index]").first()).toContainText(scrollName(9));
  await expect(table.locator("tbody tr[data-index]")).toHaveCount(10);

  await page.goto("/audit");
  const filters = page.getByRole("form", { name: "Audit filters" });
  await expect(page.getByRole("table", { name: "Audit events" }).locator("tbody tr[data-index]").first()).toBeVisible();
  await filters.getByLabel(/^Search/).fill(scrollName(3));
  await filters.getByLabel("Outcome").selectOption("success");
  await filters.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/outcome=success/);
  const events = page.getByRole("table", { name: "Audit events" });
  await expect(events.getByTestId("audit-target")).toHaveCount(1);
  await page.reload();
  await expect(filters.getByLabel(/^Search/)).toHaveValue(scrollName(3));
  await expect(filters.getByLabel("Outcome")).toHaveValue("success");
  await expect(events.getByTestId("audit-target")).toHaveCount(1);
  await expect(events.getByTestId("audit-target")).toContainText(scrollName(3));
});

test("the audit log finds events by the target's name, links to it, and shows before/after as a diff", async ({ page }) => {
  const name = `demo-${hex}`;
  const made = (await mutate(page.request, "networks.create", { text: conflist(name, 7), comment: "" })) as { id: string };
  await mutate(page.request, "networks.update", { id: made.id, text: conflist(name, 8), comment: "", expectedRevision: 1 });
  await page.goto("/audit");
  const filters = page.getByRole("form", { name: "Audit filters" });
  await expect(page.getByRole("table", { name: "Audit events" }).locator("tbody tr[data-index]").first()).toBeVisible();
  await filters.getByLabel(/^Search/).fill("DEMO-" + hex.toUpperCase());
  await filters.getByRole("button", { name: "Filter" }).click();
  const events = page.getByRole("table", { name: "Audit events" });
  await expect(events.getByTestId("audit-target")).toHaveCount(2);
  const update = events.locator("tbody tr", { hasText: "networks.update" });
  await update.getByText("changes").click();
  const diff = update.getByLabel("Before and after");
  await expect(diff.locator(".del")).toContainText(["10.241.7.0/24"]);
  await expect(diff.locator(".add")).toContainText(["10.241.8.0/24"]);
  // The expanded row stays inside the window.
  const width = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(width).toBeLessThanOrEqual(0);
  await update.getByRole("link", { name }).click();
  await expect(page).toHaveURL(new RegExp(`/networks/${made.id}$`));
  await mutate(page.request, "networks.delete", { id: made.id, confirmName: name });
});

test("attachments show ready and in-progress by default; detached ones on request, released, and purged by hand", async ({ page }) => {
  const { token } = (await mutate(page.request, "hosts.createJoinToken", { note: "lists e2e", ttlMinutes: 10 })) as { token: string };
  const enrolled = await page.request.post("/api/agent/agent.enroll", { data: { json: { joinToken: token, hostname: `lists-${hex}`, agentVersion: "e2e" } } });
  expect(enrolled.status(), await enrolled.text()).toBe(200);
  const hostId = ((await enrolled.json()) as { result: { data: { json: { hostId: string } } } }).result.data.json.hostId;
  const net = (await mutate(page.request, "networks.create", { text: conflist(`purge-${hex}`, 9), comment: "" })) as { id: string };
  const attach = (name: string, portMappings: unknown[] = []) =>
    mutate(page.request, "attachments.create", { hostId, networkId: net.id, target: { kind: "netns", name }, ifName: "eth0", portMappings }) as Promise<{ attachment: { id: string } }>;
  await attach(`keep-${hex}`, [{ hostPort: 18181, containerPort: 80, protocol: "tcp" }]);
  const gone = await attach(`gone-${hex}`);
  // Never applied (no agent runs for this host): detached at once.
  await mutate(page.request, "attachments.detach", { id: gone.attachment.id });
  await mutate(page.request, "networks.update", { id: net.id, text: conflist(`purge-${hex}`, 10), comment: "", expectedRevision: 1 });

  await page.goto(`/attachments?hostId=${hostId}`);
  const keep = page.getByTestId(`attachment-row-keep-${hex}`);
  const goneRow = page.getByTestId(`attachment-row-gone-${hex}`);
  await expect(keep.getByTestId("attachment-state")).toHaveText(/pending/i);
  await expect(keep.getByTestId("attachment-ports")).toHaveText("18181 → 80/tcp");
  await expect(keep.getByTestId("older-revision")).toContainText("older revision");
  await expect(goneRow).toHaveCount(0);

  await page.getByRole("checkbox", { name: "detached" }).check();
  await expect(page).toHaveURL(/state=detached/);
  await expect(goneRow.getByTestId("attachment-state")).toHaveText(/detached/i);
  await page.reload();
  await expect(page.getByRole("checkbox", { name: "detached" })).toBeChecked();
  await expect(goneRow.getByTestId("attachment-state")).toHaveText(/detached/i);

  await goneRow.getByRole("button", { name: /^Purge / }).click();
  await page.getByRole("dialog", { name: "Purge detached attachments" }).getByRole("button", { name: "Yes, purge" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Purged 1 detached attachment" })).toBeVisible();
  await expect(goneRow).toHaveCount(0);
  await expect(keep).toBeVisible();

  // The purge is audited under the attachment's name.
  await page.goto(`/audit?q=gone-${hex}&action=attachments.purge`);
  await expect(page.getByRole("table", { name: "Audit events" }).getByTestId("audit-target")).toContainText(`gone-${hex}/eth0 on purge-${hex}`);
});
