import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "@switchyard/cni";
import { readJsonFile } from "./files";
import type { Logger } from "./log";

/** An attachment as the CNI cache names it. */
export interface AttachmentKey {
  networkName: string;
  containerId: string;
  ifName: string;
}

const OwnedFile = z.array(z.tuple([z.string(), z.string(), z.string()]));
const keyOf = (a: AttachmentKey) => `${a.networkName}\0${a.containerId}\0${a.ifName}`;

/**
 * The attachments this agent made (ADDed, not yet DELed). The CNI result cache is shared with
 * containerd, CRI-O, podman and cnitool: reconcile DELs only entries that are ours (made here or
 * desired now), and its GC counts everyone else's as valid, so neither tears down another
 * runtime's interface or releases its lease. Kept in the data dir; a write lost in a crash only
 * leaves a stale entry alone (the conservative side), so writes are coalesced, not awaited and
 * not flushed to the disk (an empty or cut file after a power loss reads as an empty list, which
 * is conservative too): the intent record is the one fsync an attach waits for.
 */
export function createOwnedAttachments(dataDir: string, log: Logger) {
  const file = join(dataDir, "owned.json");
  const keys = new Map<string, AttachmentKey>();
  let value: unknown;
  try {
    value = readJsonFile(file);
  } catch (error) {
    log.warn("unreadable list of this agent's attachments; starting empty", { file, error: (error as Error).message });
  }
  const parsed = OwnedFile.safeParse(value ?? []);
  if (parsed.success) for (const [networkName, containerId, ifName] of parsed.data) keys.set(keyOf({ networkName, containerId, ifName }), { networkName, containerId, ifName });
  else log.warn("unreadable list of this agent's attachments; starting empty", { file, error: parsed.error.issues[0]?.message });

  let dirty = false;
  let writing: Promise<void> | undefined;
  function persist(): void {
    dirty = true;
    writing ??= (async () => {
      while (dirty) {
        dirty = false;
        await writeFileAtomic(file, JSON.stringify([...keys.values()].map((k) => [k.networkName, k.containerId, k.ifName])), { fsync: false });
      }
    })()
      .catch((error: unknown) => log.warn("could not save the list of this agent's attachments", { file, error: (error as Error).message }))
      .finally(() => (writing = undefined));
  }

  return {
    has: (a: AttachmentKey): boolean => keys.has(keyOf(a)),
    list: (): AttachmentKey[] => [...keys.values()],
    add(a: AttachmentKey): void {
      if (keys.has(keyOf(a))) return;
      keys.set(keyOf(a), { networkName: a.networkName, containerId: a.containerId, ifName: a.ifName });
      persist();
    },
    remove(a: AttachmentKey): void {
      if (keys.delete(keyOf(a))) persist();
    },
    /** Settles when what was recorded is on disk. */
    async flush(): Promise<void> {
      while (writing) await writing;
    },
  };
}
export type OwnedAttachments = ReturnType<typeof createOwnedAttachments>;
