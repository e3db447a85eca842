import { CanonicalIp, ServiceName } from "@switchyard/dataplane/desired";
import { z } from "zod";
import { ServiceSpec } from "./services";

/**
 * A team's networks and services as files (issue 13 §2): what `switchyard export` writes and
 * `switchyard apply -f` reads, so they live in git and are reviewed as pull requests. Networks are
 * top-level files named as /etc/cni/net.d names them (`10-lab.conflist`, `.conf` for a single
 * plugin); services are `services/<name>.json`. Pure zod, shared by the console and the CLI.
 */

export const FILE_LIMITS = {
  /** Files in one plan or apply. */
  files: 500,
  /** Bytes of one file (a conflist's own limit). */
  bytes: 1024 * 1024,
  path: 255,
} as const;

export const SERVICES_DIR = "services";

/** What a file holds, by where it is: the CLI sends only these, the console checks again. */
export function fileKind(path: string): "network" | "service" | null {
  const parts = path.split("/");
  if (parts.length === 1) return /\.(conflist|conf|json)$/.test(path) ? "network" : null;
  if (parts.length === 2 && parts[0] === SERVICES_DIR) return /\.json$/.test(parts[1]!) ? "service" : null;
  return null;
}

export const TeamFile = z.object({
  path: z
    .string()
    .min(1)
    .max(FILE_LIMITS.path)
    .refine((p) => fileKind(p) !== null, { message: `not a network (a top-level .conflist, .conf or .json) or a service (${SERVICES_DIR}/<name>.json)` }),
  text: z.string().max(FILE_LIMITS.bytes, `larger than ${FILE_LIMITS.bytes} bytes`),
});
export type TeamFile = z.infer<typeof TeamFile>;

export const FilesInput = z.object({
  files: z
    .array(TeamFile)
    .max(FILE_LIMITS.files, `at most ${FILE_LIMITS.files} files at once`)
    .superRefine((files, ctx) => {
      const seen = new Set<string>();
      files.forEach((f, i) => {
        if (seen.has(f.path)) ctx.addIssue({ code: "custom", path: [i, "path"], message: `${f.path} is sent twice` });
        seen.add(f.path);
      });
    }),
  /** Delete networks and services that no file names (never without it). */
  prune: z.boolean().default(false),
});
export type FilesInput = z.infer<typeof FilesInput>;

export const ApplyFilesInput = FilesInput.extend({
  /** The plan's digest: the apply is refused when the console moved on since (the diff shown is the diff applied). */
  expectedDigest: z.string().regex(/^[0-9a-f]{64}$/, "the digest of a plan (files.plan)"),
});
export type ApplyFilesInput = z.infer<typeof ApplyFilesInput>;

/** A service file: its name (the file's name too), its VIP (kept across consoles when given), its spec. */
export const ServiceFile = z
  .object({
    name: ServiceName,
    vip: CanonicalIp.optional(),
    spec: ServiceSpec,
  })
  .strict();
export type ServiceFile = z.infer<typeof ServiceFile>;

export const serviceFilePath = (name: string) => `${SERVICES_DIR}/${name}.json`;

/** A service file's text as export writes it: stable key order, two-space indent, a final newline. */
export function serviceFileText(service: { name: string; vip: string; spec: ServiceSpec }): string {
  return `${JSON.stringify({ name: service.name, vip: service.vip, spec: service.spec }, null, 2)}\n`;
}

export interface FileIssue {
  file: string;
  path: (string | number)[];
  message: string;
}

export interface FileChange {
  kind: "network" | "service";
  name: string;
  action: "create" | "update" | "delete" | "unchanged";
  /** The file that asks for it; null for a deletion (no file names the object). */
  file: string | null;
  /** A unified diff of the console's text and the file's; empty when unchanged. */
  diff: string;
  /** What it does beyond the object: hosts, attachments, rules. */
  impact: string[];
  warnings: string[];
}

/** What files.applyPlan did, change by change. */
export interface AppliedChange {
  kind: "network" | "service";
  name: string;
  action: "create" | "update" | "delete";
  revision?: number;
}

export interface FilesPlan {
  ok: boolean;
  errors: FileIssue[];
  changes: FileChange[];
  digest: string;
}
