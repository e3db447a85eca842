import { readdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { CompleteInput, JOB_TEXT_MAX, JobLine } from "@switchyard/api/schemas";
import { writeFileAtomic } from "@switchyard/cni";
import { readJournalFile } from "./files";

/**
 * An operation's outcome waiting to reach the console (it may be down): kept on disk until accepted
 * or refused. The console's CompleteInput with the attachment's id; read back from JSON, so dates are coerced.
 */
export const Report = CompleteInput.extend({
  attachmentId: z.string(),
  /** The job's last lines, sent with the outcome. */
  lines: z.array(JobLine.extend({ at: z.coerce.date().optional() })).max(200).optional(),
});
export type Report = z.infer<typeof Report>;

/** An error cut to what the console stores: a longer one would have the whole outcome refused. */
export function boundError(error: string): string {
  return error.length > JOB_TEXT_MAX ? `${error.slice(0, JOB_TEXT_MAX - 1)}…` : error;
}

/** Writes a report file atomically; `durable` flushes it to the disk first (writeFileAtomic of @switchyard/cni). */
export type WriteReport = (file: string, data: string, options: { fsync: boolean }) => Promise<void>;

export function createReportQueue(dataDir: string, write: WriteReport = writeFileAtomic) {
  const dir = join(dataDir, "reports");
  const file = (r: Pick<Report, "operationId" | "attempt">) => join(dir, `${r.operationId}-${r.attempt}.json`);
  return {
    /**
     * Puts a report in the queue, atomically. `durable: false` keeps it from a crash of the process
     * only (it is in the page cache), not from a power loss: for an outcome on its way to the console.
     */
    put(report: Report, options: { durable?: boolean } = {}): Promise<void> {
      return write(file(report), JSON.stringify(report), { fsync: options.durable ?? true });
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
      // A report that cannot be read (not JSON, not a report) is left out, not thrown: the queue is
      // read at every start, by reconcile and by every heartbeat.
      return names.flatMap((n) => {
        const read = readJournalFile(join(dir, n));
        const parsed = "value" in read ? Report.safeParse(read.value) : undefined;
        return parsed?.success ? [parsed.data] : [];
      });
    },
  };
}
export type ReportQueue = ReturnType<typeof createReportQueue>;
