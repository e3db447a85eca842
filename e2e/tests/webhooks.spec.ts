import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { expect, test } from "@playwright/test";

// Issue 13 §5 in the browser: an admin makes a webhook to a receiver this test starts on loopback
// (allowed with the admin flag), sees its secret once, sends a test event and watches the delivery
// log; the console's own worker delivers it, signed. A link-local URL without the flag is refused.
const hex = randomBytes(3).toString("hex");

test("a webhook made on the page delivers a signed test event; a link-local URL is refused without the flag", async ({ page }) => {
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  try {
    await page.goto("/webhooks");
    await expect(page.getByRole("link", { name: "Webhooks" })).toHaveAttribute("aria-current", "page");
    const form = page.getByRole("form", { name: "Create webhook" });

    await form.getByLabel("Name").fill(`e2e metadata ${hex}`);
    await form.getByLabel("URL").fill("http://169.254.169.254/latest/meta-data");
    await form.getByRole("button", { name: "Create webhook" }).click();
    await expect(form.getByRole("alert")).toContainText("is a link-local address");
    await expect(page.getByRole("table", { name: "Webhooks" }).getByText(`e2e metadata ${hex}`)).toHaveCount(0);

    const name = `e2e receiver ${hex}`;
    await form.getByLabel("Name").fill(name);
    await form.getByLabel("URL").fill(`http://127.0.0.1:${port}/hook`);
    await form.getByLabel("Allow local destinations").check();
    await form.getByRole("button", { name: "Create webhook" }).click();
    const secret = (await page.getByTestId("webhook-secret").textContent())!.trim();
    expect(secret).toMatch(/^whsec_/);
    await page.getByRole("button", { name: "Done" }).click();
    await expect(page.getByTestId("webhook-secret")).toHaveCount(0);

    const row = page.getByRole("row", { name: new RegExp(name) });
    await expect(row).toContainText("local allowed");
    await row.getByRole("button", { name: `Send test event to ${name}` }).click();
    await row.getByRole("button", { name: `Deliveries of ${name}` }).click();
    const log = page.getByRole("table", { name: `Deliveries of ${name}` });
    await expect(log.getByRole("row").nth(1)).toContainText("succeeded", { timeout: 15_000 });
    await expect(log.getByRole("row").nth(1)).toContainText("204");
    await expect(log.getByRole("row").nth(1)).toContainText("1 / 10");

    // The receiver is a webhook of the whole console: another test's host going offline meanwhile
    // (host.offline) reaches it too. What this test sent is the one webhook.test event.
    const tests = received.filter((r) => (JSON.parse(r.body) as { event?: string }).event === "webhook.test");
    expect(tests).toHaveLength(1);
    expect(received.every((r) => ["webhook.test", "host.offline", "operation.failed", "ipam.leak", "proposal.awaiting_review"].includes((JSON.parse(r.body) as { event: string }).event))).toBe(true);
    const [got] = tests;
    expect(got!.headers["x-switchyard-event"]).toBe("webhook.test");
    const expected = `sha256=${createHmac("sha256", secret).update(`${String(got!.headers["x-switchyard-timestamp"])}.${got!.body}`).digest("hex")}`;
    expect(got!.headers["x-switchyard-signature"]).toBe(expected);
    expect(JSON.parse(got!.body)).toMatchObject({ event: "webhook.test", data: { webhook: { name } } });
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
