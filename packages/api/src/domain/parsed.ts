import { AttachmentResult, PortMapping, StoredInventory } from "../schemas";

/**
 * JSON columns read into the shapes the schemas define, once, in the domain: pages get typed
 * values, not raw JSON to pick apart.
 */

/** A host's stored inventory, or null before the agent's first report (or if it cannot be read). */
export function readInventory(json: unknown): StoredInventory | null {
  if (json === null || typeof json !== "object" || Array.isArray(json)) return null;
  const parsed = StoredInventory.safeParse(json);
  return parsed.success ? parsed.data : null;
}

/** An attachment's stored CNI result, or null when it has none (yet). */
export function readResult(json: unknown): AttachmentResult | null {
  if (json === null || typeof json !== "object" || Array.isArray(json)) return null;
  const parsed = AttachmentResult.safeParse(json);
  return parsed.success ? parsed.data : null;
}

/** The port mappings in an attachment's capability args (entries that do not parse are left out). */
export function readPortMappings(capabilityArgs: unknown): PortMapping[] {
  const list = (capabilityArgs as { portMappings?: unknown } | null)?.portMappings;
  if (!Array.isArray(list)) return [];
  return list.flatMap((m) => {
    const parsed = PortMapping.safeParse(m);
    return parsed.success ? [parsed.data] : [];
  });
}

/** An attachment row with its JSON columns parsed: `result` typed, `portMappings` listed. */
export function toAttachmentView<T extends { result: unknown; capabilityArgs: unknown }>(row: T): Omit<T, "result"> & { result: AttachmentResult | null; portMappings: PortMapping[] } {
  return { ...row, result: readResult(row.result), portMappings: readPortMappings(row.capabilityArgs) };
}
