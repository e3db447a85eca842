/**
 * A PostgreSQL of one test's own (issue 15 §6, the fault run): initdb in a temporary directory as
 * the `postgres` user, a postmaster on a free loopback port that is this process's child (so it can
 * be SIGKILLed and started again: crash recovery for real), dropped at the end. The machine's shared
 * cluster (15/main) is never touched: other tests use it at the same time.
 *
 * Root only (initdb and postgres refuse to run as root: they run as `postgres` through setpriv,
 * which execs, so the child's pid is the postmaster's).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@switchyard/cni/test-host";

const PREFIX = "sytest-pg-";
const ROLE = "switchyard";
const PASSWORD = "switchyard";
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface PrivatePostgres {
  /** postgresql://switchyard:switchyard@127.0.0.1:<port>/postgres: a superuser, as SWITCHYARD_TEST_PG_URL would be. */
  url: string;
  port: number;
  /** The postmaster's pid while it runs. */
  pid(): number | undefined;
  isRunning(): boolean;
  /** SIGKILL to the postmaster (its backends notice and exit); resolves once it is gone. */
  kill(): Promise<void>;
  /** Starts it again (crash recovery runs) and resolves when it accepts connections. */
  start(): Promise<void>;
  /** Stops it (immediate), ends every process of its data directory and removes the directory. Safe to call twice. */
  drop(): Promise<void>;
  /** The server's log (the last `bytes`). */
  logTail(bytes?: number): string;
}

/** The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/<major>/bin). */
function pgBinDir(): string {
  const base = "/usr/lib/postgresql";
  const majors = existsSync(base) ? readdirSync(base).filter((d) => existsSync(join(base, d, "bin", "postgres"))).sort((a, b) => Number(b) - Number(a)) : [];
  if (!majors[0]) throw new Error(`no PostgreSQL server under ${base}: install Debian's postgresql package (scripts/lib.sh ensure_postgres)`);
  return join(base, majors[0], "bin");
}

/** A loopback port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Pids of processes whose working directory is `dir` (a postmaster and its backends chdir to their data directory). */
function processesIn(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`) === dir) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Ends the processes of a data directory (by pid, SIGKILL) and waits until none is left (bounded). */
async function endProcessesIn(dataDir: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const pids = processesIn(dataDir);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await sleep(50);
  }
}

/**
 * Private clusters left by a run that was itself killed (its owner pid is gone): their processes
 * ended and their directories removed, so that they do not pile up.
 */
export async function removeAbandonedClusters(): Promise<string[]> {
  const removed: string[] = [];
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(PREFIX)) continue;
    const root = join(tmpdir(), name);
    let owner = 0;
    try {
      owner = Number(readFileSync(join(root, "owner.pid"), "utf8"));
    } catch {
      // no owner file: half made; treat as abandoned
    }
    if (owner > 0 && isAlive(owner)) continue;
    await endProcessesIn(join(root, "data"));
    rmSync(root, { recursive: true, force: true });
    removed.push(root);
  }
  return removed;
}

/** Creates, starts and returns a private cluster; on any failure what was made is removed. */
export async function createPrivatePostgres(): Promise<PrivatePostgres> {
  await removeAbandonedClusters();
  const bin = pgBinDir();
  const root = mkdtempSync(join(tmpdir(), PREFIX));
  writeFileSync(join(root, "owner.pid"), String(process.pid));
  const dataDir = join(root, "data");
  const socketDir = join(root, "sock");
  const logFile = join(root, "postgres.log");
  mkdirSync(socketDir);
  const { uid, gid } = await postgresIds();
  for (const p of [root, socketDir]) chownSync(p, uid, gid);
  writeFileSync(join(root, "pw"), PASSWORD);
  chownSync(join(root, "pw"), uid, gid);
  writeFileSync(logFile, "");
  chownSync(logFile, uid, gid);
  const asPostgres = (cmd: string, args: string[]) => ["setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", join(bin, cmd), ...args]] as const;

  let child: ChildProcess | undefined;
  let dropped = false;
  const port = await freePort();
  const url = `postgresql://${ROLE}:${PASSWORD}@127.0.0.1:${port}/postgres`;

  async function isReady(): Promise<boolean> {
    const [cmd, args] = asPostgres("pg_isready", ["-q", "-h", "127.0.0.1", "-p", String(port), "-t", "1"]);
    return (await run(cmd, args, { check: false, timeoutMs: 5000 })).code === 0;
  }

  async function start(): Promise<void> {
    if (dropped) throw new Error("the private PostgreSQL was dropped");
    if (child && child.exitCode === null && child.signalCode === null) return;
    const deadline = Date.now() + 60_000;
    for (;;) {
      // Backends of a killed postmaster hold its shared memory until they notice and exit:
      // the new postmaster refuses to start until then ("pre-existing shared memory block").
      const log = openSync(logFile, "a");
      const [cmd, args] = asPostgres("postgres", ["-D", dataDir, "-p", String(port), "-k", socketDir, "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=80", "-c", "shared_buffers=32MB", "-c", "logging_collector=off"]);
      const proc = spawn(cmd, args, { stdio: ["ignore", log, log] });
      closeSync(log);
      const exited = new Promise<void>((r) => proc.once("exit", () => r()));
      child = proc;
      for (;;) {
        if (proc.exitCode !== null || proc.signalCode !== null) break;
        if (await isReady()) return;
        if (Date.now() > deadline) {
          proc.kill("SIGKILL");
          await exited;
          throw new Error(`PostgreSQL did not accept connections within 60 s on port ${port}:\n${tail()}`);
        }
        await sleep(100);
      }
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not start within 60 s:\n${tail()}`);
      await sleep(200);
    }
  }

  async function kill(): Promise<void> {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    proc.kill("SIGKILL");
    await exited;
  }

  function tail(bytes = 4000): string {
    try {
      const text = readFileSync(logFile, "utf8");
      return text.slice(-bytes);
    } catch {
      return "";
    }
  }

  async function drop(): Promise<void> {
    if (dropped) return;
    dropped = true;
    await kill();
    await endProcessesIn(dataDir);
    rmSync(root, { recursive: true, force: true });
  }

  try {
    const [cmd, args] = asPostgres("initdb", ["-D", dataDir, "-U", ROLE, `--pwfile=${join(root, "pw")}`, "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]);
    await run(cmd, args, { timeoutMs: 60_000 });
    await start();
  } catch (error) {
    await drop();
    throw error;
  }
  return {
    url,
    port,
    pid: () => (child && child.exitCode === null && child.signalCode === null ? child.pid : undefined),
    isRunning: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    kill,
    start,
    drop,
    logTail: tail,
  };
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("postgres:"));
  if (!line) throw new Error("no postgres user: install Debian's postgresql package (scripts/lib.sh ensure_postgres)");
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}
