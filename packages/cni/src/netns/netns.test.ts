import { describe, expect, it } from "vitest";
import { CniError } from "../errors";
import { checkNetns, validateAttachmentIds, validateContainerId, validateIfName, validateNetworkName } from "./index";

describe("attachment ids", () => {
  it.each(["", "-x", "../x", "a/b", "a b", "a:b", "é", "x".repeat(256)])("refuses container id %j", (id) => {
    expect(() => validateContainerId(id)).toThrow(CniError);
  });
  it("uses libcni's codes", () => {
    expect(() => validateContainerId("")).toThrow(expect.objectContaining({ code: 3 }));
    expect(() => validateContainerId("a/b")).toThrow(expect.objectContaining({ code: 4 }));
    expect(() => validateNetworkName("a b")).toThrow(expect.objectContaining({ code: 7 }));
    expect(() => validateIfName("eth0/x")).toThrow(expect.objectContaining({ code: 4 }));
  });
  it.each(["", ".", "..", "eth0/x", "eth:0", "eth 0", "a".repeat(16), "ethé"])("refuses ifname %j", (name) => {
    expect(() => validateIfName(name)).toThrow(CniError);
  });
  it("accepts ordinary ids", () => {
    expect(() => validateAttachmentIds({ networkName: "team-a.web_1", containerId: "0123abc", ifName: "a".repeat(15) })).not.toThrow();
  });
});

describe("netns", () => {
  it("refuses the host's and our own netns, other namespace types, non-nsfs files and missing paths", async () => {
    for (const path of ["/proc/self/ns/net", "/proc/1/ns/net", "/proc/self/ns/mnt", "/etc/passwd", "relative", "/run/netns/nope-xyz", ""]) {
      await expect(checkNetns(path)).rejects.toBeInstanceOf(CniError);
    }
  });
  it("lets DEL through with a missing path", async () => {
    expect(await checkNetns("/run/netns/nope-xyz", { allowMissing: true })).toBe(false);
    expect(await checkNetns("", { allowMissing: true })).toBe(false);
    await expect(checkNetns("/etc/passwd", { allowMissing: true })).rejects.toThrow(/not a network namespace/);
  });
});
