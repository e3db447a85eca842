import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { expect, test, type APIRequestContext, type Browser, type BrowserContext, type Page } from "@playwright/test";
import { BASE_URL } from "../playwright.config";

/** A tRPC mutation as the signed-in browser user would send it (same origin, JSON). */
export async function mutate(request: APIRequestContext, procedure: string, input: unknown) {
  return request.post(`/api/trpc/${procedure}`, { data: { json: input }, headers: { origin: BASE_URL } });
}

/** A fresh browser context signed in as `username` (cookies of its own), landed on the Networks page. */
export async function signInElsewhere(browser: Browser, username: string, password: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const page = await context.newPage();
  await page.goto("/login");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Networks" })).toBeVisible();
  return { context, page };
}

/** A tRPC query's answer; anything but 200 fails the test. */
export async function query<T>(request: APIRequestContext, procedure: string, input: unknown = null): Promise<T> {
  const res = await request.get(`/api/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`);
  expect(res.status()).toBe(200);
  return ((await res.json()) as { result: { data: { json: T } } }).result.data.json;
}

/** A mutation's answer, as its procedure returns it. */
export async function dataOf<T>(res: Awaited<ReturnType<typeof mutate>>): Promise<T> {
  return ((await res.json()) as { result: { data: { json: T } } }).result.data.json;
}

/**
 * The browser drives a real agent on this host: it needs root (namespaces, CNI plugins). Not
 * skipped otherwise: a suite that silently drops these tests would hide their failure.
 */
export function requireRoot(): void {
  test.beforeAll(() => {
    expect(process.getuid?.(), "run the end-to-end suite as root: the agent creates namespaces and runs CNI plugins").toBe(0);
  });
}

/** What a file's tests made on this host, removed whether or not it is still there. */
export function removeFromHost(made: { netns?: string[]; links?: string[]; dirs?: string[] }): void {
  for (const args of [...(made.netns ?? []).map((n) => ["netns", "del", n]), ...(made.links ?? []).map((l) => ["link", "del", l])]) {
    try {
      execFileSync("ip", args, { stdio: "ignore" });
    } catch {
      // already gone
    }
  }
  for (const dir of made.dirs ?? []) rmSync(dir, { recursive: true, force: true });
}
