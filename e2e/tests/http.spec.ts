import { expect, test } from "@playwright/test";

// HARDENING 10 and 11 against the real Next.js server.
test("mutations that are not same-origin JSON POSTs are refused and change nothing", async ({ request, baseURL }) => {
  const body = JSON.stringify({ json: { text: '{"cniVersion":"1.0.0","name":"csrf-e2e","plugins":[{"type":"ptp","ipam":{"type":"host-local","subnet":"10.66.0.0/24"}}]}', comment: "" } });
  const url = "/api/trpc/networks.create";
  const attempts = [
    request.get(`${url}?input=${encodeURIComponent(body)}`),
    request.post(url, { headers: { "content-type": "text/plain", origin: baseURL! }, data: body }),
    request.post(url, { headers: { "content-type": "application/x-www-form-urlencoded", origin: baseURL! }, data: body }),
    request.post(url, { headers: { "content-type": "application/json", origin: "null" }, data: body }),
    request.post(url, { headers: { "content-type": "application/json", origin: "http://evil.example" }, data: body }),
  ];
  for (const res of await Promise.all(attempts)) {
    expect(res.status(), await res.text()).toBeGreaterThanOrEqual(400);
    expect(res.status()).toBeLessThan(500);
  }
  const list = await request.get(`/api/trpc/networks.list?input=${encodeURIComponent(JSON.stringify({ json: null }))}`);
  expect(list.status()).toBe(200);
  expect(await list.text()).not.toContain("csrf-e2e");
});

test("the middleware-subrequest header and RSC variants do not skip authorization", async ({ playwright, baseURL }) => {
  const anonymous = await playwright.request.newContext({ baseURL, storageState: { cookies: [], origins: [] } });
  const headers = { "x-middleware-subrequest": "middleware:middleware:middleware:middleware:middleware", rsc: "1", "next-router-prefetch": "1" };
  const res = await anonymous.get(`/api/trpc/users.list?input=${encodeURIComponent(JSON.stringify({ json: null }))}`, { headers });
  expect(res.status()).toBe(401);
  expect(await res.text()).not.toContain("username");
  for (const url of ["/networks", "/networks?_rsc=abc", "/users.rsc", "/audit"]) {
    const page = await anonymous.get(url, { headers });
    expect(await page.text()).not.toContain("Signed in as");
  }
  const plain = await anonymous.get("/users", { maxRedirects: 0 });
  expect(plain.status()).toBe(307);
  expect(plain.headers().location).toContain("/login");
  await anonymous.dispose();
});

test("the audit log records the socket's address, not a forged X-Forwarded-For", async ({ playwright, baseURL, request }) => {
  const stranger = await playwright.request.newContext({ baseURL, storageState: { cookies: [], origins: [] } });
  const res = await stranger.post("/api/trpc/auth.signIn", {
    headers: { "content-type": "application/json", origin: baseURL!, "x-forwarded-for": "203.0.113.9" },
    data: JSON.stringify({ json: { username: "forger", password: "not a real password" } }),
  });
  expect(res.status()).toBe(401);
  await stranger.dispose();
  const input = encodeURIComponent(JSON.stringify({ json: { actor: "forger", limit: 5 } }));
  const list = await request.get(`/api/trpc/audit.list?input=${input}`);
  const body = (await list.json()) as { result: { data: { json: { items: { sourceIp: string }[] } } } };
  const [event] = body.result.data.json.items;
  expect(event?.sourceIp).toBe("127.0.0.1");
});
