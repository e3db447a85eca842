import { readFileSync } from "node:fs";

// Atomic, durable writes: writeFileAtomic of @switchyard/cni (one writer for the agent and the CNI cache).

export function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as unknown;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
