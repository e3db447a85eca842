import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "@switchyard/cni/test-host";
import { waitFor } from "../wait";

/**
 * A real containerd (Debian's 1.6) for a test: its root, state, socket and config under `dir`,
 * the CRI plugin off (it would watch the machine's /etc/cni/net.d and listen on a port), and an
 * image made without a registry (busybox-static's root filesystem → `podman import` into a
 * private podman storage → `podman save --format oci-archive` → `ctr image import`).
 *
 * `ctr run --cni` reads its networks from /etc/cni/net.d only: `run` gives each `ctr` a private
 * mount namespace (`ip netns exec`, which also puts the bridge plugin in the test's namespace)
 * where the test's conf dir is bind-mounted there. The machine's own /etc/cni/net.d is not
 * touched; libcni's cache is its default, /var/lib/cni, as for podman.
 */
export interface TestContainerd {
  address: string;
  pid(): number;
  image: string;
  /** `ctr` against this containerd, bounded in time. */
  ctr(args: string[], options?: { timeoutMs?: number; check?: boolean }): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /**
   * `ctr run --cni` in `netns` with `confDir` as its /etc/cni/net.d. Foreground (`--rm`): ctr runs
   * CNI DEL when the task exits, as a runtime should; detached (`-d`): ctr 1.6 never runs it.
   */
  run(o: { id: string; netns: string; confDir: string; labels: Record<string, string>; detached?: boolean; command: string[] }): Promise<ChildProcess | null>;
  /** Stops containerd (SIGTERM, then SIGKILL), its tasks living on in their shims; `start` brings it back on the same state. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Kills every task, removes every container, stops containerd and removes its files. */
  cleanup(): Promise<void>;
}

// Run as `sh -c BIND sh <conf dir> ctr …`: the bind mount lives only in ctr's mount namespace.
const BIND_CONF_DIR = 'mount --bind "$1" /etc/cni/net.d && shift && exec "$@"';

export async function startContainerd(dir: string): Promise<TestContainerd> {
  mkdirSync(dir, { recursive: true });
  const address = join(dir, "containerd.sock");
  const config = join(dir, "config.toml");
  writeFileSync(
    config,
    `version = 2
root = "${join(dir, "root")}"
state = "${join(dir, "state")}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "${address}"
[plugins."io.containerd.internal.v1.opt"]
  path = "${join(dir, "opt")}"
`,
  );
  let daemon: ChildProcess | undefined;
  const ctr = async (args: string[], options: { timeoutMs?: number; check?: boolean } = {}) => run("ctr", ["--address", address, ...args], { timeoutMs: options.timeoutMs ?? 30_000, check: options.check ?? true });
  const start = async () => {
    daemon = spawn("containerd", ["--config", config], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    daemon.stderr!.setEncoding("utf8").on("data", (c: string) => void (log.length < 65536 && (log += c)));
    await waitFor("containerd to answer", async () => {
      if (daemon!.exitCode !== null) throw new Error(`containerd exited ${daemon!.exitCode}: ${log.slice(-2000)}`);
      return existsSync(address) && (await ctr(["version"], { check: false, timeoutMs: 5000 })).code === 0;
    }, 30_000);
  };
  const stop = async () => {
    const d = daemon;
    if (!d || d.exitCode !== null || d.signalCode !== null) return;
    const exited = new Promise((r) => d.once("exit", r));
    d.kill("SIGTERM");
    const kill = setTimeout(() => d.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(kill);
  };
  await start();

  // The image: busybox-static's root filesystem, imported without a registry.
  const image = "localhost/sytest-busybox:1";
  const rootfs = join(dir, "rootfs");
  mkdirSync(join(rootfs, "bin"), { recursive: true });
  copyFileSync("/bin/busybox", join(rootfs, "bin", "busybox"));
  for (const applet of ["sh", "sleep"]) symlinkSync("busybox", join(rootfs, "bin", applet));
  const storage = join(dir, "podman-storage.conf");
  writeFileSync(storage, `[storage]\ndriver = "vfs"\ngraphroot = "${join(dir, "podman", "storage")}"\nrunroot = "${join(dir, "podman", "run")}"\n`);
  const podmanEnv = { ...process.env, CONTAINERS_STORAGE_CONF: storage };
  const layer = join(dir, "rootfs.tar");
  await run("tar", ["-C", rootfs, "-cf", layer, "."]);
  await run("podman", ["import", layer, image], { env: podmanEnv, timeoutMs: 60_000 });
  const archive = join(dir, "image.tar");
  await run("podman", ["save", "--format", "oci-archive", "-o", archive, image], { env: podmanEnv, timeoutMs: 60_000 });
  await ctr(["image", "import", archive], { timeoutMs: 60_000 });

  const removeAll = async () => {
    const ids = (await ctr(["containers", "list", "--quiet"], { check: false })).stdout.split("\n").map((l) => l.trim()).filter(Boolean);
    for (const id of ids) {
      await ctr(["task", "kill", "--signal", "SIGKILL", id], { check: false });
      await waitFor(`task ${id} to stop`, async () => !(await ctr(["task", "list"], { check: false })).stdout.split("\n").some((l) => l.startsWith(`${id} `) && /RUNNING/.test(l)), 10_000).catch(() => undefined);
      await ctr(["task", "delete", id], { check: false });
      await ctr(["containers", "delete", id], { check: false });
    }
  };

  return {
    address,
    image,
    pid: () => daemon?.pid ?? 0,
    ctr,
    async run(o) {
      const labels = Object.entries(o.labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
      const argv = ["ip", "netns", "exec", o.netns, "sh", "-c", BIND_CONF_DIR, "sh", o.confDir, "ctr", "--address", address, "run", o.detached ? "-d" : "--rm", "--cni", ...labels, image, o.id, ...o.command];
      if (o.detached) {
        await run(argv[0]!, argv.slice(1), { timeoutMs: 30_000 });
        return null;
      }
      const child = spawn(argv[0]!, argv.slice(1), { stdio: "ignore" });
      await waitFor(`container ${o.id} to run`, async () => {
        if (child.exitCode !== null) throw new Error(`ctr run ${o.id} exited ${child.exitCode}`);
        return (await ctr(["task", "list"], { check: false })).stdout.split("\n").some((l) => l.startsWith(`${o.id} `) && /RUNNING/.test(l));
      }, 30_000);
      return child;
    },
    stop,
    start,
    async cleanup() {
      // A test that stopped containerd leaves its tasks in their shims: started again, it finds them, and they go with the rest.
      if (!daemon || daemon.exitCode !== null || daemon.signalCode !== null) await start().catch(() => undefined);
      await removeAll().catch(() => undefined);
      await stop();
      // Nothing may stay mounted under the dir it removes (a snapshot of a container not deleted).
      const mounts = readFileSync("/proc/self/mounts", "utf8").split("\n").map((l) => l.split(" ")[1] ?? "").filter((m) => m.startsWith(`${dir}/`));
      for (const m of mounts.reverse()) await run("umount", ["-l", m], { check: false });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
