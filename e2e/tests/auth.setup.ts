import { readFileSync } from "node:fs";
import { expect, test as setup } from "@playwright/test";

setup("the bootstrap admin signs in with the printed one-time secret", async ({ page }) => {
  const { username, secret } = JSON.parse(readFileSync(".auth/bootstrap.json", "utf8")) as { username: string; secret: string };
  await page.goto("/networks");
  await expect(page).toHaveURL(/\/login$/);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill("not the secret");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "Wrong username or password" })).toBeVisible();
  await page.getByLabel("Password").fill(secret);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Networks" })).toBeVisible();
  await expect(page.getByText("Signed in as")).toContainText("admin");
  await page.context().storageState({ path: ".auth/admin.json" });
});
