import { readdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic as writeFileDurable } from "@switchyard/cni";
import { readJsonFile } from "./files";

/** An operation's outcome waiting to reach the console (it may be down): kept on disk until accepted or refused. */
export const Report = z.object({
  operationId: z.string(),
  attempt: z.number().int(),
  attachmentId: z.string(),
  outcome: z.enum(["succeeded", "failed"]),
  result: z.record(z.string(), z.unknown()).optional(),
  error: z.string().optional(),
  retryable: z.boolean().optional(),
  /** The job's last lines, sent with the outcome. */
  lines: z.array(z.object({ stream: z.enum(["agent", "plugin", "stderr"]), line: z.string(), at: z.coerce.date().optional() })).max(200).optional(),
});
export type Report = z.infer<typeof Report>;

export function createReportQueue(dataDir: string) {
  const dir = join(dataDir, "reports");
  const file = (r: Pick<Report, "operationId" | "attempt">) => join(dir, `${r.operationId}-${r.attempt}.json`);
  return {
    put(report: Report): Promise<void> {
      return writeFileDurable(file(report), JSON.stringify(report));
    },
    done(report: Pick<Report, "operationId" | "attempt">): Promise<void> {
      return rm(file(report), { force: true });
    },
    list(): Report[] {
      let names: string[];
      try {
        names = readdirSync(dir).filter((n) => n.endsWith(".json"));
      } catch {
        return [];
      }
      return names.flatMap((n) => {
        const parsed = Report.safeParse(readJsonFile(join(dir, n)));
        return parsed.success ? [parsed.data] : [];
      });
    },
  };
}
export type ReportQueue = ReturnType<typeof createReportQueue>;
