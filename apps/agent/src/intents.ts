import { readdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic as writeFileDurable } from "@switchyard/cni";
import { readJournalFile } from "./files";

/**
 * An intent record says "this operation may have touched the host": written (durably) before
 * the first side effect, removed once its outcome is reported. One found at start means the
 * agent died mid-operation: the attachment is DELed before anything else runs on it.
 */
export const Intent = z.object({
  operationId: z.string(),
  attempt: z.number().int(),
  kind: z.enum(["attach", "check", "detach"]),
  attachmentId: z.string(),
  networkName: z.string(),
  containerId: z.string(),
  ifName: z.string(),
  netns: z.string(),
  conflist: z.unknown(),
  capabilityArgs: z.record(z.string(), z.unknown()),
  startedAt: z.coerce.date(),
});
export type Intent = z.infer<typeof Intent>;

export function createIntentJournal(dataDir: string) {
  const dir = join(dataDir, "intents");
  const file = (attachmentId: string) => join(dir, `${attachmentId}.json`);
  return {
    write(intent: Intent): Promise<void> {
      return writeFileDurable(file(intent.attachmentId), JSON.stringify(intent));
    },
    /** Removes the attachment's intent if it is still this operation attempt's (a newer attempt may have replaced it). */
    async remove(attachmentId: string, owner?: { operationId: string; attempt: number }): Promise<void> {
      if (owner) {
        // An unreadable record is nobody's newer attempt: it goes too.
        const read = readJournalFile(file(attachmentId));
        const current = Intent.safeParse("value" in read ? read.value : undefined);
        if (current.success && (current.data.operationId !== owner.operationId || current.data.attempt !== owner.attempt)) return;
      }
      await rm(file(attachmentId), { force: true });
    },
    /** Every readable intent; unreadable files are returned by name so they can be reported. */
    list(): { intents: Intent[]; bad: string[] } {
      let names: string[];
      try {
        names = readdirSync(dir).filter((n) => n.endsWith(".json"));
      } catch {
        return { intents: [], bad: [] };
      }
      const intents: Intent[] = [];
      const bad: string[] = [];
      for (const name of names) {
        const read = readJournalFile(join(dir, name));
        const parsed = "value" in read ? Intent.safeParse(read.value) : undefined;
        if (parsed?.success) intents.push(parsed.data);
        else bad.push(name);
      }
      return { intents, bad };
    },
  };
}
export type IntentJournal = ReturnType<typeof createIntentJournal>;
