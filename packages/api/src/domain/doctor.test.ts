import { describe, expect, it } from "vitest";
import { diagnoseHost, type DiagnoseInput, type DoctorAttachment, type DoctorCheck, type DoctorDeployments } from "./doctor";
import type { StoredInventory as Inventory } from "../schemas";

const now = new Date("2026-03-01T12:00:00Z");
const ago = (ms: number) => new Date(now.getTime() - ms);

function inventory(over: Partial<Inventory> = {}): Inventory {
  return {
    hostname: "node1",
    kernel: "6.1.0-18-amd64",
    addresses: [{ ifName: "eth0", address: "192.0.2.10/24" }],
    plugins: [
      { name: "bridge", path: "/usr/lib/cni/bridge", executable: true, supportedVersions: ["1.0.0", "1.1.0"] },
      { name: "host-local", path: "/usr/lib/cni/host-local", executable: true },
      { name: "portmap", path: "/usr/lib/cni/portmap", executable: true },
    ],
    cniPath: ["/opt/cni/bin", "/usr/lib/cni"],
    netnsDir: "/run/netns",
    namespaces: ["web1", "sy-1234abcd"],
    confDir: "/etc/cni/net.d",
    confFiles: [{ file: "10-lan.conflist", networkName: "lan" }],
    cacheDir: "/var/lib/cni",
    cachedAttachments: [],
    ipForward: { v4: true, v6: false },
    tools: { nft: true, iptables: false, ip: true },
    masquerade: [{ networkName: "lan", subnet: "10.88.0.0/16", present: true }],
    networkStatus: [{ networkName: "lan", ready: true }],
    pushStream: { open: true, since: ago(3_600_000) },
    ...over,
  };
}

const lanConflist = {
  cniVersion: "1.0.0",
  name: "lan",
  plugins: [
    { type: "bridge", bridge: "cni0", isGateway: true, ipMasq: true, ipam: { type: "host-local", subnet: "10.88.0.0/16" } },
    { type: "portmap", capabilities: { portMappings: true } },
  ],
};
const flatConflist = { cniVersion: "1.0.0", name: "flat", plugins: [{ type: "macvlan", master: "eth0", ipam: { type: "dhcp" } }] };

function attachment(over: Partial<DoctorAttachment> = {}): DoctorAttachment {
  return { networkId: "n-lan", networkName: "lan", networkRevision: 2, containerId: "web1", ifName: "eth0", targetKind: "netns", target: "web1", state: "ready", ...over };
}

function input(over: Partial<DiagnoseInput> = {}): DiagnoseInput {
  return {
    host: { liveness: "online", lastSeenAt: ago(5_000), inventory: inventory(), inventoryAt: ago(10_000) },
    attachments: [attachment(), attachment({ containerId: "sy-1234abcd", targetKind: "sandbox", target: "sy-1234abcd" })],
    networks: [{ networkId: "n-lan", revision: 2, conflist: lanConflist }],
    now,
    ...over,
  };
}

function check(checks: DoctorCheck[], id: DoctorCheck["id"]): DoctorCheck {
  const found = checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check ${id}`);
  return found;
}

/** Network "lab" placed on the host at revision 3, its file reported written at 3. */
const deployed = (over: Partial<DoctorDeployments> = {}): DoctorDeployments => ({
  wants: [{ network: "lab", revision: 3 }],
  files: [{ networkName: "lab", file: "50-switchyard-lab.conflist", state: "deployed", revision: 3, change: "", error: "", conflictWith: [] }],
  confDirError: "",
  ...over,
});

describe("diagnoseHost", () => {
  it("passes every check on a healthy host, in a stable order, without fixes", () => {
    const checks = diagnoseHost({ ...input(), deployments: deployed() });
    expect(checks.map((c) => [c.id, c.status])).toEqual([
      ["agent", "pass"],
      ["push-stream", "pass"],
      ["plugins", "pass"],
      ["conf-files", "pass"],
      ["conf-drift", "pass"],
      ["deployments", "pass"],
      ["namespaces", "pass"],
      ["ip-forward", "pass"],
      ["masquerade", "pass"],
      ["firewall-tools", "pass"],
      ["network-status", "pass"],
      ["inventory-fresh", "pass"],
    ]);
    expect(checks.every((c) => c.fix === undefined)).toBe(true);
    expect(check(checks, "plugins").details).toEqual(["Found: bridge, host-local, portmap"]);
  });

  it("fails the agent check for offline and revoked hosts, with the fix", () => {
    const offline = check(diagnoseHost(input({ host: { ...input().host, liveness: "offline", lastSeenAt: ago(5 * 60_000) } })), "agent");
    expect(offline.status).toBe("fail");
    expect(offline.details[0]).toContain("5 minutes ago");
    expect(offline.fix).toContain("Hosts → Add a host");
    expect(offline.fix).toContain("dials out");
    const revoked = check(diagnoseHost(input({ host: { ...input().host, liveness: "revoked" } })), "agent");
    expect(revoked.status).toBe("fail");
    expect(revoked.fix).toContain("join token");
  });

  it("names a missing plugin, including IPAM plugins, and one that is not executable", () => {
    const inv = inventory({
      plugins: [
        { name: "bridge", path: "/usr/lib/cni/bridge", executable: false },
        { name: "portmap", path: "/usr/lib/cni/portmap", executable: true },
      ],
    });
    const plugins = check(diagnoseHost(input({ host: { ...input().host, inventory: inv } })), "plugins");
    expect(plugins.status).toBe("fail");
    expect(plugins.details).toEqual([
      "/usr/lib/cni/bridge (used by lan) is not executable",
      '"host-local" (used by lan) is not in CNI_PATH /opt/cni/bin:/usr/lib/cni',
    ]);
    expect(plugins.fix).toContain("apt install containernetworking-plugins");
    expect(plugins.fix).toContain("/opt/cni/bin, /usr/lib/cni");
  });

  it("only asks for plugins of attachments that are not detached, per their own revision", () => {
    const checks = diagnoseHost(
      input({
        attachments: [attachment(), attachment({ networkId: "n-flat", networkName: "flat", networkRevision: 1, state: "detached" })],
        networks: [
          { networkId: "n-lan", revision: 2, conflist: lanConflist },
          { networkId: "n-flat", revision: 1, conflist: flatConflist },
        ],
      }),
    );
    expect(check(checks, "plugins").status).toBe("pass");
    const detaching = diagnoseHost(
      input({
        attachments: [attachment({ networkId: "n-flat", networkName: "flat", networkRevision: 1, state: "detaching" })],
        networks: [{ networkId: "n-flat", revision: 1, conflist: flatConflist }],
      }),
    );
    expect(check(detaching, "plugins").details).toEqual([
      '"dhcp" (used by flat) is not in CNI_PATH /opt/cni/bin:/usr/lib/cni',
      '"macvlan" (used by flat) is not in CNI_PATH /opt/cni/bin:/usr/lib/cni',
    ]);
  });

  it("is unknown about plugins while a network's conflist is not loaded", () => {
    const plugins = check(diagnoseHost(input({ networks: [] })), "plugins");
    expect(plugins.status).toBe("unknown");
    expect(plugins.details[0]).toContain("lan r2");
  });

  it("shows each invalid conf file with its error", () => {
    const inv = inventory({ confFiles: [{ file: "10-lan.conflist", networkName: "lan" }, { file: "99-broken.conf", error: "invalid JSON at offset 12" }] });
    const conf = check(diagnoseHost(input({ host: { ...input().host, inventory: inv } })), "conf-files");
    expect(conf.status).toBe("fail");
    expect(conf.details).toEqual(["99-broken.conf: invalid JSON at offset 12"]);
    expect(conf.fix).toContain("/etc/cni/net.d");
  });

  it("fails when a ready netns or sandbox attachment's namespace is gone, ignoring pids and unready ones", () => {
    const inv = inventory({ namespaces: [] });
    const attachments = [
      attachment({ containerId: "db1", target: "db1" }),
      attachment({ containerId: "pid-4242", targetKind: "pid", target: "4242" }),
      attachment({ containerId: "new1", target: "new1", state: "pending" }),
    ];
    const ns = check(diagnoseHost(input({ host: { ...input().host, inventory: inv }, attachments })), "namespaces");
    expect(ns.status).toBe("fail");
    expect(ns.details).toEqual(['db1/eth0 on lan: namespace "db1" is not in /run/netns']);
    expect(ns.fix).toContain("ip netns add db1");
  });

  it("needs ip_forward only for a bridge with ipMasq or isGateway", () => {
    const off = inventory({ ipForward: { v4: false, v6: false } });
    const lan = check(diagnoseHost(input({ host: { ...input().host, inventory: off } })), "ip-forward");
    expect(lan.status).toBe("fail");
    expect(lan.details[0]).toContain("lan");
    expect(lan.fix).toContain("sysctl -w net.ipv4.ip_forward=1");

    const flat = check(
      diagnoseHost(
        input({
          host: { ...input().host, inventory: off },
          attachments: [attachment({ networkId: "n-flat", networkName: "flat", networkRevision: 1 })],
          networks: [{ networkId: "n-flat", revision: 1, conflist: flatConflist }],
        }),
      ),
      "ip-forward",
    );
    expect(flat.status).toBe("pass");

    const unreadable = inventory({ ipForward: { v4: null, v6: null } });
    expect(check(diagnoseHost(input({ host: { ...input().host, inventory: unreadable } })), "ip-forward").status).toBe("unknown");
  });

  it("lists missing masquerade rules", () => {
    const inv = inventory({ masquerade: [{ networkName: "lan", subnet: "10.88.0.0/16", present: false }] });
    const masq = check(diagnoseHost(input({ host: { ...input().host, inventory: inv } })), "masquerade");
    expect(masq.status).toBe("fail");
    expect(masq.details).toEqual(["lan: no masquerade rule for 10.88.0.0/16"]);
    expect(masq.fix).toMatch(/Check|Retry/);
  });

  it("needs nft or iptables", () => {
    const iptablesOnly = inventory({ tools: { nft: false, iptables: true, ip: true } });
    expect(check(diagnoseHost(input({ host: { ...input().host, inventory: iptablesOnly } })), "firewall-tools").status).toBe("pass");
    const none = inventory({ tools: { nft: false, iptables: false, ip: true } });
    const tools = check(diagnoseHost(input({ host: { ...input().host, inventory: none } })), "firewall-tools");
    expect(tools.status).toBe("fail");
    expect(tools.fix).toContain("apt install nftables");
  });

  it("fails an inventory older than two minutes", () => {
    expect(check(diagnoseHost(input({ host: { ...input().host, inventoryAt: ago(119_000) } })), "inventory-fresh").status).toBe("pass");
    const stale = check(diagnoseHost(input({ host: { ...input().host, inventoryAt: ago(121_000) } })), "inventory-fresh");
    expect(stale.status).toBe("fail");
    expect(stale.details).toEqual(["Reported 2 minutes ago."]);
  });

  it("is unknown about everything the inventory would tell before the first report", () => {
    const checks = diagnoseHost(input({ host: { liveness: "online", lastSeenAt: ago(1_000), inventory: null, inventoryAt: null } }));
    expect(checks.map((c) => [c.id, c.status])).toEqual([
      ["agent", "pass"],
      ["push-stream", "unknown"],
      ["plugins", "unknown"],
      ["conf-files", "unknown"],
      ["conf-drift", "unknown"],
      ["deployments", "info"],
      ["namespaces", "unknown"],
      ["ip-forward", "unknown"],
      ["masquerade", "unknown"],
      ["firewall-tools", "unknown"],
      ["network-status", "unknown"],
      ["inventory-fresh", "fail"],
    ]);
  });

  it("fails a push stream closed for more than 30 s (the agent long-polls), with the proxy fix", () => {
    const stream = (pushStream: Inventory["pushStream"], liveness: "online" | "offline" = "online") =>
      check(diagnoseHost(input({ host: { ...input().host, liveness, inventory: inventory({ pushStream }) } })), "push-stream");
    expect(stream({ open: true, since: ago(3_600_000) })).toMatchObject({ status: "pass", details: ["Open since 1 hour ago: work reaches the agent at once."] });
    expect(stream({ open: false, since: ago(5_000) }).status).toBe("pass");
    const closed = stream({ open: false, since: ago(600_000) });
    expect(closed.status).toBe("fail");
    expect(closed.details[0]).toContain("long-polls");
    expect(closed.fix).toContain("proxy_buffering off;");
    expect(stream(undefined).status).toBe("unknown");
    expect(stream({ open: true, since: ago(1000) }, "offline").status).toBe("unknown");
  });

  it("compares the conf dir's files with the console's networks: a file behind or apart from the latest revision fails", () => {
    const withDrift = (confDrift: NonNullable<DiagnoseInput["host"]["confDrift"]>) => check(diagnoseHost(input({ host: { ...input().host, confDrift } })), "conf-drift");
    const fine = withDrift([
      { file: "10-lan.conflist", networkName: "lan", status: "in-sync", revision: 2, latestRevision: 2 },
      { file: "20-podman.conflist", networkName: "podman", status: "unmanaged" },
    ]);
    expect(fine).toMatchObject({ status: "pass", details: ["1 file at the network's latest revision.", "Not Switchyard networks: podman."] });
    expect(fine.fix).toBeUndefined();
    const behind = withDrift([
      { file: "10-lan.conflist", networkName: "lan", status: "older", revision: 1, latestRevision: 3 },
      { file: "30-flat.conflist", networkName: "flat", status: "differs", latestRevision: 1 },
    ]);
    expect(behind.status).toBe("fail");
    expect(behind.details).toEqual(["10-lan.conflist: network lan revision 1; the latest is 3.", "30-flat.conflist: differs from every revision of network flat."]);
    expect(behind.fix).toContain("Export the network's latest revision");
    expect(behind.fix).toContain("/etc/cni/net.d");
  });

  it("fails network status with the plugin's STATUS error", () => {
    const down = inventory({ networkStatus: [{ networkName: "lan", ready: false, error: "plugin type=\"dhcp\" failed (STATUS): dhcp daemon not running" }] });
    const status = check(diagnoseHost(input({ host: { ...input().host, inventory: down } })), "network-status");
    expect(status.status).toBe("fail");
    expect(status.details[0]).toContain("dhcp daemon not running");
    expect(status.fix).toContain("CNI STATUS");
  });

  // Issue 10, item 6: one test per failure kind, each fix fitting its failure.
  describe("fix texts fit their failure", () => {
    const withInventory = (over: Partial<Inventory>, host: Partial<DiagnoseInput["host"]> = {}) => diagnoseHost(input({ host: { ...input().host, inventory: inventory(over), ...host } }));

    it("a missing conf dir (a fresh host) is information, without a fix", () => {
      const conf = check(withInventory({ confFiles: [{ file: "/etc/cni/net.d", error: "ENOENT: no such file or directory, scandir '/etc/cni/net.d'" }] }), "conf-files");
      expect(conf.status).toBe("info");
      expect(conf.details[0]).toContain("/etc/cni/net.d does not exist");
      expect(conf.fix).toBeUndefined();
    });

    it("an unreadable conf dir fails with a fix about the directory, not about files", () => {
      const conf = check(withInventory({ confFiles: [{ file: "/etc/cni/net.d/", error: "EACCES: permission denied, scandir '/etc/cni/net.d'" }] }), "conf-files");
      expect(conf.status).toBe("fail");
      expect(conf.details).toEqual(["/etc/cni/net.d cannot be read: EACCES: permission denied, scandir '/etc/cni/net.d'"]);
      expect(conf.fix).toContain("ls -ld /etc/cni/net.d");
      expect(conf.fix).not.toContain("remove");
    });

    it("an invalid conf file names it once and asks to correct or remove that file", () => {
      const conf = check(withInventory({ confFiles: [{ file: "99-broken.conf", error: "99-broken.conf: invalid JSON at offset 12" }] }), "conf-files");
      expect(conf.details).toEqual(["99-broken.conf: invalid JSON at offset 12"]);
      expect(conf.fix).toContain("Correct or remove this file in /etc/cni/net.d");
    });

    it("a plugin that is there but not executable gets chmod, not an install", () => {
      const plugins = check(withInventory({ plugins: [{ name: "bridge", path: "/usr/lib/cni/bridge", executable: false }, { name: "host-local", path: "/usr/lib/cni/host-local", executable: true }, { name: "portmap", path: "/usr/lib/cni/portmap", executable: true }] }), "plugins");
      expect(plugins.status).toBe("fail");
      expect(plugins.fix).toBe("Make it executable: `chmod 755 /usr/lib/cni/bridge`.");
    });

    it("a missing plugin gets an install naming it, not chmod", () => {
      const plugins = check(withInventory({ plugins: [{ name: "bridge", path: "/usr/lib/cni/bridge", executable: true }, { name: "host-local", path: "/usr/lib/cni/host-local", executable: true }] }), "plugins");
      expect(plugins.fix).toContain('put "portmap", executable, in one of /opt/cni/bin, /usr/lib/cni');
      expect(plugins.fix).not.toContain("chmod");
    });

    it("a missing sandbox namespace is the agent's to recreate; a missing named one is the operator's", () => {
      const inv = { namespaces: [] };
      const sandbox = check(diagnoseHost(input({ host: { ...input().host, inventory: inventory(inv) }, attachments: [attachment({ containerId: "sy-1", targetKind: "sandbox", target: "sy-1" })] })), "namespaces");
      expect(sandbox.fix).toContain("attach again for a new sandbox");
      expect(sandbox.fix).not.toContain("ip netns add");
      const named = check(diagnoseHost(input({ host: { ...input().host, inventory: inventory(inv) }, attachments: [attachment({ containerId: "web9", target: "web9" })] })), "namespaces");
      expect(named.fix).toContain("ip netns add web9");
      expect(named.fix).not.toContain("sandbox");
    });

    it("a missing masquerade rule: install a firewall tool first when none is there, else attach again (Check adds nothing)", () => {
      const masquerade = [{ networkName: "lan", subnet: "10.88.0.0/16", containerId: "web1", present: false }];
      const withTools = check(withInventory({ masquerade }), "masquerade");
      expect(withTools.details).toEqual(["lan: no masquerade rule for web1 (10.88.0.0/16)"]);
      expect(withTools.fix).toContain("Detach and attach the attachment again");
      expect(withTools.fix).not.toContain("apt install");
      const noTools = check(withInventory({ masquerade, tools: { nft: false, iptables: false, ip: true } }), "masquerade");
      expect(noTools.fix).toContain("apt install iptables");
    });

    it("a stale inventory: an offline agent points at the agent check, an online one at its log", () => {
      const offline = check(diagnoseHost(input({ host: { ...input().host, liveness: "offline", inventoryAt: ago(600_000) } })), "inventory-fresh");
      expect(offline.fix).toContain("offline");
      const online = check(diagnoseHost(input({ host: { ...input().host, inventoryAt: ago(600_000) } })), "inventory-fresh");
      expect(online.fix).toContain("Reconcile now");
      const revoked = check(diagnoseHost(input({ host: { ...input().host, liveness: "revoked", inventoryAt: ago(600_000) } })), "inventory-fresh");
      expect(revoked.status).toBe("unknown");
    });

    it("every failing check has a fix, and no passing, unknown or info check has one", () => {
      const broken = diagnoseHost(
        input({
          host: {
            liveness: "offline",
            lastSeenAt: ago(600_000),
            inventoryAt: ago(600_000),
            inventory: inventory({
              plugins: [],
              namespaces: [],
              confFiles: [{ file: "x.conf", error: "bad" }],
              ipForward: { v4: false, v6: false },
              tools: { nft: false, iptables: false, ip: true },
              masquerade: [{ networkName: "lan", subnet: "10.88.0.0/16", present: false }],
              networkStatus: [{ networkName: "lan", ready: false }],
            }),
            confDrift: [{ file: "10-lan.conflist", networkName: "lan", status: "older", revision: 1, latestRevision: 2 }],
          },
        }),
      );
      for (const c of broken) expect(Boolean(c.fix), c.id).toBe(c.status === "fail");
      expect(broken.filter((c) => c.status === "fail").map((c) => c.id)).toEqual(["agent", "plugins", "conf-files", "conf-drift", "namespaces", "ip-forward", "masquerade", "firewall-tools", "network-status", "inventory-fresh"]);
    });
  });
});

describe("the deployments check (issue 16)", () => {
  const run = (d: DoctorDeployments | undefined) => check(diagnoseHost({ ...input(), ...(d ? { deployments: d } : {}) }), "deployments");
  it("passes when every placed network is written at its latest revision; information when none is placed", () => {
    expect(run(deployed())).toMatchObject({ status: "pass", details: ["1 network at its latest revision: lab r3."] });
    expect(run({ wants: [], files: [], confDirError: "" })).toMatchObject({ status: "info", details: ["No network is deployed to this host."] });
    expect(run(undefined).status).toBe("info");
  });
  it("is unknown while a revision is not reported written yet", () => {
    const behind = run(deployed({ wants: [{ network: "lab", revision: 4 }] }));
    expect(behind).toMatchObject({ status: "unknown", details: ["lab: revision 4 not reported written yet."] });
    expect(behind.fix).toBeUndefined();
  });
  it("fails, with a fix, on an unwritable conf dir, a conflict, a write error and drift left by policy", () => {
    const failed = run(
      deployed({
        confDirError: "conf dir /etc/cni/net.d cannot be read: EACCES",
        files: [
          { networkName: "lab", file: "50-switchyard-lab.conflist", state: "drifted", revision: 3, change: "edited", error: "", conflictWith: [] },
          { networkName: "web", file: "50-switchyard-web.conflist", state: "conflict", revision: null, change: "", error: "", conflictWith: ["10-web.conflist"] },
          { networkName: "db", file: "50-switchyard-db.conflist", state: "failed", revision: null, change: "", error: "conf dir /etc/cni/net.d is not writable (EROFS)", conflictWith: [] },
        ],
      }),
    );
    expect(failed.status).toBe("fail");
    expect(failed.details).toEqual([
      "conf dir /etc/cni/net.d cannot be read: EACCES",
      "50-switchyard-lab.conflist: edited by hand; left as it is (the network's drift policy is warn).",
      "web: not written, 10-web.conflist also defines it (a file Switchyard did not write).",
      "50-switchyard-db.conflist: conf dir /etc/cni/net.d is not writable (EROFS)",
    ]);
    expect(failed.fix).toContain("drift policy to restore");
  });
});
