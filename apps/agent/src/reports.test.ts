import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "../test/fakes";
import { createReportQueue } from "./reports";

const dirs: { remove(): void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

describe("the report queue with a file that is not JSON (HARDENING 23)", () => {
  it("lists the readable reports and leaves out one cut short (queued without an fsync, then a power loss), without throwing", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const queue = createReportQueue(dir.path);
    await queue.put({ operationId: "op-1", attempt: 1, attachmentId: "a-1", outcome: "succeeded" }, { durable: false });
    mkdirSync(join(dir.path, "reports"), { recursive: true });
    writeFileSync(join(dir.path, "reports", "op-2-1.json"), "");
    writeFileSync(join(dir.path, "reports", "op-3-1.json"), '{"operationId":"op-3","attempt":1,"outc');
    expect(queue.list().map((r) => r.operationId)).toEqual(["op-1"]);
  });
});
