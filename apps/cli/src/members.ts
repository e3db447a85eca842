import { isIP } from "node:net";
import { CliError, EXIT } from "./exit";

/**
 * `services set-weight` and `drain`: which member of a pool the command line names, and the spec
 * that changes only that member. A member added by hand is changed in `manualMembers` (by address,
 * and port when given); a member the selector chose, in `overrides` (by attachment id); a member
 * registered through the API is its registration's (not in the spec).
 */

export type MemberRef = { kind: "address"; address: string; port: number | null } | { kind: "id"; id: string };

/** IPv6 compared in one form (`fd00::01` is `fd00::1`), as the console stores it. */
export function canonicalAddress(address: string): string {
  if (isIP(address) === 6) return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  return address;
}

export function parseMemberRef(text: string): MemberRef {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed && isIP(bracketed[1]!) === 6) return { kind: "address", address: canonicalAddress(bracketed[1]!), port: parsePort(bracketed[2], text) };
  if (isIP(text) !== 0) return { kind: "address", address: canonicalAddress(text), port: null };
  const v4port = /^([^:]+):(\d{1,5})$/.exec(text);
  if (v4port && isIP(v4port[1]!) === 4) return { kind: "address", address: v4port[1]!, port: parsePort(v4port[2], text) };
  if (/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(text)) return { kind: "id", id: text };
  throw new CliError(EXIT.usage, `member ${JSON.stringify(text)}: give ADDRESS, ADDRESS:PORT, [IPv6]:PORT, or an attachment or container id`);
}

function parsePort(text: string | undefined, whole: string): number | null {
  if (text === undefined) return null;
  const port = Number(text);
  if (port < 1 || port > 65535) throw new CliError(EXIT.usage, `member ${JSON.stringify(whole)}: port ${text} is not 1-65535`);
  return port;
}

export interface SpecMembers {
  manualMembers: { address: string; port: number | null; weight: number; state: string; hostId: string | null }[];
  overrides: { attachmentId: string; weight?: number; state?: string }[];
}
export interface PoolMember {
  source: "selector" | "manual" | "registered";
  address: string;
  port: number | null;
  weight: number;
  state: string;
  attachmentId: string | null;
  containerId: string | null;
}

export type MemberChange = { weight: number } | { state: string };

const show = (m: { address: string; port: number | null }) => (m.port === null ? m.address : isIP(m.address) === 6 ? `[${m.address}]:${m.port}` : `${m.address}:${m.port}`);

/**
 * The spec with `change` made to the member `ref` names, and a line saying what changed. Throws
 * (exit 1) when no member or more than one matches, or when the member is a registered one.
 */
export function changeMember<S extends SpecMembers>(spec: S, members: PoolMember[], ref: MemberRef, change: MemberChange): { spec: S; description: string } {
  const field = "weight" in change ? "weight" : "state";
  const to = "weight" in change ? change.weight : change.state;
  const list = () => members.map((m) => `${show(m)} (${m.source}${m.containerId ? `, container ${m.containerId}` : ""}${m.attachmentId ? `, attachment ${m.attachmentId}` : ""})`);
  if (ref.kind === "address") {
    const manual = spec.manualMembers.map((m, i) => ({ m, i })).filter(({ m }) => canonicalAddress(m.address) === ref.address && (ref.port === null || m.port === ref.port));
    if (manual.length > 1) throw new CliError(EXIT.failed, `${ref.address} is ${manual.length} members: name one with ADDRESS:PORT`, manual.map(({ m }) => show(m)));
    if (manual.length === 1) {
      const { m, i } = manual[0]!;
      const from = m[field];
      const manualMembers = spec.manualMembers.map((x, j) => (j === i ? { ...x, [field]: to } : x));
      return { spec: { ...spec, manualMembers }, description: `member ${show(m)}: ${field} ${from} → ${to}` };
    }
  }
  const matches = members.filter((m) =>
    ref.kind === "address" ? canonicalAddress(m.address) === ref.address && (ref.port === null || m.port === null || m.port === ref.port) : m.attachmentId === ref.id || m.containerId === ref.id,
  );
  const selector = [...new Map(matches.filter((m) => m.source === "selector" && m.attachmentId).map((m) => [m.attachmentId!, m])).values()];
  if (selector.length > 1) throw new CliError(EXIT.failed, `that names ${selector.length} members: name one by its attachment id`, selector.map((m) => `${show(m)} attachment ${m.attachmentId}`));
  if (selector.length === 1) {
    const m = selector[0]!;
    const attachmentId = m.attachmentId!;
    const has = spec.overrides.some((o) => o.attachmentId === attachmentId);
    const overrides = has ? spec.overrides.map((o) => (o.attachmentId === attachmentId ? { ...o, [field]: to } : o)) : [...spec.overrides, { attachmentId, [field]: to }];
    return { spec: { ...spec, overrides }, description: `member ${show(m)} (attachment ${attachmentId}): ${field} ${m[field]} → ${to}` };
  }
  if (matches.some((m) => m.source === "registered")) {
    throw new CliError(EXIT.failed, "that member was registered through the API: its weight and state are its registration's (register it again with them)");
  }
  const what = ref.kind === "address" ? show(ref) : ref.id;
  throw new CliError(EXIT.failed, `no member ${what} in this service${members.length ? "; its members:" : " (it has no members)"}`, list());
}
