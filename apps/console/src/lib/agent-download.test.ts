import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { type AgentDownload, chooseConsoleUrl, isLoopbackUrl, renderJoinCommand, renderServiceCommand } from "./agent-download";

const download: AgentDownload = { file: "switchyard-agent.mjs", sha256: "a".repeat(64), bytes: 1000, publicUrl: null };

describe("the join command", () => {
  it("uses the configured public URL over the browser's origin, and the browser's when none is set", () => {
    expect(chooseConsoleUrl("https://switchyard.example.internal/some/path", "http://127.0.0.1:3000")).toBe("https://switchyard.example.internal");
    expect(chooseConsoleUrl(null, "http://10.0.0.5:3000")).toBe("http://10.0.0.5:3000");
  });

  it("knows which URLs only this machine can reach", () => {
    for (const url of ["http://127.0.0.1:3000", "http://127.8.9.1", "http://localhost:3000", "http://app.localhost", "http://[::1]:3000", "http://0.0.0.0:3000"]) {
      expect(isLoopbackUrl(url), url).toBe(true);
    }
    for (const url of ["http://10.0.0.5:3000", "https://switchyard.example.internal", "http://[fd00::1]:3000", "http://128.0.0.1"]) {
      expect(isLoopbackUrl(url), url).toBe(false);
    }
  });

  it("downloads from the console, checks the sha256 and runs the file with node, the URL and the token", () => {
    const command = renderJoinCommand({ consoleUrl: "http://10.0.0.5:3000", download, token: "syj_abc" });
    expect(command).toBe(
      [
        "curl -fsSLo switchyard-agent.mjs http://10.0.0.5:3000/downloads/switchyard-agent.mjs &&",
        `  echo '${"a".repeat(64)}  switchyard-agent.mjs' | sha256sum -c - &&`,
        "  sudo node switchyard-agent.mjs --console-url http://10.0.0.5:3000 --join-token syj_abc",
      ].join("\n"),
    );
  });

  /** Runs the real list with curl and sudo replaced by stand-ins: curl "downloads" `content`; sudo records what it was asked to run. */
  function runWithStandIns(content: string, offered: AgentDownload) {
    const dir = mkdtempSync(path.join(tmpdir(), "join-command-"));
    try {
      writeFileSync(path.join(dir, "curl"), `#!/bin/sh\nprintf '%s' '${content}' > switchyard-agent.mjs\n`, { mode: 0o755 });
      writeFileSync(path.join(dir, "sudo"), '#!/bin/sh\necho "$@" > ran\n', { mode: 0o755 });
      const command = renderJoinCommand({ consoleUrl: "http://10.0.0.5:3000", download: offered, token: "syj_abc" });
      const run = spawnSync("bash", ["-c", command], { cwd: dir, env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }, encoding: "utf8" });
      const ran = existsSync(path.join(dir, "ran")) ? readFileSync(path.join(dir, "ran"), "utf8").trim() : undefined;
      return { status: run.status, output: run.stdout + run.stderr, ran };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("is one shell list: a file whose checksum does not match is never run; one that matches is", () => {
    const tampered = runWithStandIns("tampered", download);
    expect(tampered.status).not.toBe(0);
    expect(tampered.output).toMatch(/FAILED/);
    expect(tampered.ran).toBeUndefined();

    const good = "console.log(1)";
    const matching = runWithStandIns(good, { ...download, sha256: createHash("sha256").update(good).digest("hex") });
    expect(matching.status, matching.output).toBe(0);
    expect(matching.ran).toBe("node switchyard-agent.mjs --console-url http://10.0.0.5:3000 --join-token syj_abc");
  });

  it("quotes what the shell would otherwise split or expand", () => {
    const command = renderJoinCommand({ consoleUrl: "http://10.0.0.5:3000", download, token: "syj_a b$(x)'" });
    expect(command).toContain(`--join-token 'syj_a b$(x)'\\'''`);
    expect(() => execFileSync("bash", ["-n", "-c", command])).not.toThrow();
  });

  it("installs the same file as a systemd service that dials the same console", () => {
    const service = renderServiceCommand({ consoleUrl: "https://switchyard.example.internal", download });
    expect(service).toContain("/opt/switchyard/switchyard-agent.mjs");
    expect(service).toContain("https://switchyard.example.internal/downloads/switchyard-agent.service");
    expect(service).toContain("SWITCHYARD_CONSOLE_URL=https://switchyard.example.internal");
    expect(() => execFileSync("bash", ["-n", "-c", service])).not.toThrow();
  });
});
