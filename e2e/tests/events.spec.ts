import { expect, test, type Page, type Request } from "@playwright/test";
import { BASE_URL } from "../playwright.config";

// A browser allows six HTTP/1.1 connections per origin: each open stream holds one. The console
// opens one event stream per tab, whatever the page shows, and keeps it across navigation.

/** Every event stream (SSE) the page opens, by URL path. */
function watchStreams(page: Page): string[] {
  const streams: string[] = [];
  page.on("request", (r: Request) => {
    const isStream = r.resourceType() === "eventsource" || (r.headers()["accept"] ?? "").includes("text/event-stream");
    if (isStream) streams.push(new URL(r.url()).pathname);
  });
  return streams;
}

const conflist = (name: string, third: number) =>
  JSON.stringify({ cniVersion: "1.0.0", name, plugins: [{ type: "bridge", bridge: `sy${name.slice(-6)}`, ipam: { type: "host-local", ranges: [[{ subnet: `10.233.${third}.0/24` }]] } }] });

test("a tab opens exactly one event stream across pages, and the pages still update live", async ({ page, context }) => {
  const streams = watchStreams(page);
  // Pages that each subscribed on their own before: attachments (table + layout), hosts (list + layout).
  await page.goto("/attachments");
  await expect(page.getByRole("heading", { name: "Attachments" })).toBeVisible();
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Hosts" }).click();
  await expect(page.getByRole("heading", { name: "Hosts" })).toBeVisible();
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Networks" }).click();
  await expect(page.getByRole("heading", { name: "Networks" })).toBeVisible();

  // Live: a network created elsewhere (through the API) appears without a reload, over that one stream.
  const name = `live-${Date.now().toString(36).slice(-6)}`;
  const created = await page.request.post("/api/trpc/networks.create", { data: { json: { text: conflist(name, Math.floor(Math.random() * 200) + 1), comment: "e2e events" } }, headers: { origin: BASE_URL } });
  expect(created.status()).toBe(200);
  await expect(page.getByRole("link", { name })).toBeVisible();
  expect(streams).toEqual(["/api/trpc/events.stream"]);

  // A second tab has its own single stream, and is live too.
  const second = await context.newPage();
  const secondStreams = watchStreams(second);
  await second.goto("/networks");
  await expect(second.getByRole("heading", { name: "Networks" })).toBeVisible();
  const other = `${name}-b`;
  expect((await second.request.post("/api/trpc/networks.create", { data: { json: { text: conflist(other, Math.floor(Math.random() * 200) + 1), comment: "e2e events" } }, headers: { origin: BASE_URL } })).status()).toBe(200);
  await expect(second.getByRole("link", { name: other })).toBeVisible();
  await expect(page.getByRole("link", { name: other })).toBeVisible();
  expect(secondStreams).toEqual(["/api/trpc/events.stream"]);
  expect(streams).toHaveLength(1);
  await second.close();
});
