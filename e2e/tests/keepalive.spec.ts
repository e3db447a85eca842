import { Agent, get } from "node:http";
import { expect, test } from "@playwright/test";

// A reverse proxy keeps idle connections to the console (nginx's upstream keepalive: 60 s). The
// console (server.mjs) must keep them longer, or the proxy sends a request on one just as the
// console closes it: nginx's 502, never retried for a POST (seen in replicas.spec.ts). Node's
// default closes an idle connection after 5 s.
test("an idle connection to the console is still served after 6 s, as a proxy's kept-alive one must be", async ({ baseURL }) => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const fetchLogin = () =>
    new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
      const req = get(`${baseURL}/login`, { agent }, (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
      });
      req.on("error", reject);
    });
  try {
    expect(await fetchLogin()).toEqual({ status: 200, reused: false });
    await new Promise((r) => setTimeout(r, 6_500));
    // The same connection, still open on the console's side, carries the next request.
    expect(await fetchLogin()).toEqual({ status: 200, reused: true });
  } finally {
    agent.destroy();
  }
});
