import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { recordingLogger, tempDir } from "../test/fakes";
import { createOwnedAttachments } from "./owned";

const dirs: { remove(): void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));
const a = { networkName: "net1", containerId: "web-1", ifName: "eth0" };
const b = { networkName: "net2", containerId: "web-1", ifName: "eth1" };

describe("the attachments this agent made", () => {
  it("are kept in the data dir across restarts, added and removed", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const owned = createOwnedAttachments(dir.path, recordingLogger());
    owned.add(a);
    owned.add(b);
    owned.add(a);
    await owned.flush();
    expect(JSON.parse(readFileSync(join(dir.path, "owned.json"), "utf8"))).toEqual([["net1", "web-1", "eth0"], ["net2", "web-1", "eth1"]]);
    owned.remove(a);
    await owned.flush();
    const again = createOwnedAttachments(dir.path, recordingLogger());
    expect(again.has(a)).toBe(false);
    expect(again.has(b)).toBe(true);
    // The key is the whole (network, container, ifname): the same container on another network is another attachment.
    expect(again.has({ ...b, networkName: "net1" })).toBe(false);
  });

  // Its writes are not flushed to the disk: after a power loss the file can be empty.
  it("an empty file starts empty, with a warning: reconcile then leaves every cached entry alone", () => {
    const dir = tempDir();
    dirs.push(dir);
    writeFileSync(join(dir.path, "owned.json"), "");
    const log = recordingLogger();
    const owned = createOwnedAttachments(dir.path, log);
    expect(owned.list()).toEqual([]);
    expect(log.messages("warn")).toEqual(["unreadable list of this agent's attachments; starting empty"]);
  });

  it("an unreadable file starts empty, with a warning naming it", () => {
    const dir = tempDir();
    dirs.push(dir);
    writeFileSync(join(dir.path, "owned.json"), "{not json");
    const log = recordingLogger();
    const owned = createOwnedAttachments(dir.path, log);
    expect(owned.has(a)).toBe(false);
    expect(log.lines[0]).toMatchObject({ level: "warn", msg: "unreadable list of this agent's attachments; starting empty", fields: { file: join(dir.path, "owned.json") } });
  });
});
