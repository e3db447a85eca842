import { describe, expect, it } from "vitest";
import type { DesiredService, DesiredServices } from "../desired";
import { proxyConfigFrom } from "./from-desired";
import { ProxySettings } from "./settings";

const member = (address: string, over: Partial<DesiredService["members"][number]> = {}): DesiredService["members"][number] => ({
  address,
  port: null,
  weight: 100,
  state: "active",
  health: "none",
  localCidr: null,
  ...over,
});

const service = (over: Partial<DesiredService> = {}): DesiredService => ({
  id: "svc1",
  name: "web",
  vip: "10.96.0.10",
  ports: [{ protocol: "tcp", port: 80, targetPort: 8080 }],
  affinity: null,
  members: [member("10.1.0.5"), member("10.1.0.6", { pool: "canary", weight: 20 })],
  plane: "proxy",
  proxy: ProxySettings.parse({ ports: [{ port: 80, kind: "http", hostPort: 8088 }], routes: [{ pathPrefix: "/beta", pool: "canary" }, { host: "admin.example.com", pool: "admin" }] }),
  ...over,
});

const desired = (services: DesiredService[], version = 7, family: 4 | 6 = 4): DesiredServices => ({ version, family, serviceCidrs: ["10.96.0.0/16"], services });

describe("proxyConfigFrom", () => {
  it("one listener per port on the VIP and one on the host port, members grouped into their pools (a route's pool exists even when empty)", () => {
    const { config, problems } = proxyConfigFrom([desired([service(), service({ id: "k", name: "kernel", vip: "10.96.0.11", plane: undefined, proxy: undefined })])]);
    expect(problems).toEqual([]);
    expect(config.version).toBe(7);
    expect(config.listeners.map((l) => `${l.address}:${l.port} ${l.kind}`)).toEqual(["10.96.0.10:80 http", "0.0.0.0:8088 http"]);
    const vip = config.listeners[0]!;
    expect(Object.keys(vip.pools).sort()).toEqual(["admin", "canary", "default"]);
    expect(vip.pools.default!.map((m) => `${m.address}:${m.port}`)).toEqual(["10.1.0.5:8080"]);
    expect(vip.pools.canary).toEqual([{ address: "10.1.0.6", port: 8080, weight: 20, state: "active", health: "none" }]);
    expect(vip.pools.admin).toEqual([]);
    expect(vip.routes).toHaveLength(2);
  });

  it("a TCP port sees no headers: no routes, and hashing on a header falls back to the client address", () => {
    const s = service({ proxy: ProxySettings.parse({ balance: { algorithm: "consistent-hash", hashOn: { kind: "header", name: "x-user" } } }) });
    const { config } = proxyConfigFrom([desired([s])]);
    expect(config.listeners[0]).toMatchObject({ kind: "tcp", routes: [], balance: { algorithm: "consistent-hash", hashOn: { kind: "client-address" } } });
  });

  it("two services on one host port: the second's listener is left out and said; its VIP listener stays", () => {
    const a = service();
    const b = service({ id: "svc2", name: "api", vip: "10.96.0.12" });
    const { config, problems } = proxyConfigFrom([desired([a, b])]);
    expect(config.listeners.map((l) => `${l.serviceName} ${l.address}:${l.port}`)).toEqual(["web 10.96.0.10:80", "web 0.0.0.0:8088", "api 10.96.0.12:80"]);
    expect(problems).toEqual([{ serviceId: "svc2", serviceName: "api", problem: "0.0.0.0:8088 is already web's: this listener is left out" }]);
  });

  it("a member that is another service's VIP on this proxy would loop: left out and said", () => {
    const a = service({ proxy: ProxySettings.parse({}) });
    const b = service({ id: "svc2", name: "front", vip: "10.96.0.12", members: [member("10.96.0.10", { port: 80 }), member("10.1.0.9")], proxy: ProxySettings.parse({}) });
    const { config, problems } = proxyConfigFrom([desired([a, b])]);
    expect(config.listeners.find((l) => l.serviceName === "front")!.pools.default!.map((m) => m.address)).toEqual(["10.1.0.9"]);
    expect(problems[0]!.problem).toMatch(/10\.96\.0\.10:80 is a listener of this host's proxy \(web\): it would loop/);
  });

  it("both families in one config, at the newer version; an IPv6 host port listens on :: only", () => {
    const v6 = service({ id: "svc6", name: "web6", vip: "fd00:96::10", members: [member("fd00:1::5")] });
    const { config } = proxyConfigFrom([desired([service()], 7, 4), desired([v6], 9, 6)]);
    expect(config.version).toBe(9);
    expect(config.listeners.map((l) => `${l.address} ${l.port}`)).toEqual(["10.96.0.10 80", "0.0.0.0 8088", "fd00:96::10 80", ":: 8088"]);
  });
});
