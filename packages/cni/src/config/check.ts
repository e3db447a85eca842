import type { ConfigIssue, IssuePath } from "./types";

export type JsonObject = Record<string, unknown>;

/** Collects issues while a validator walks a configuration. */
export class IssueCollector {
  readonly errors: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];

  error(path: IssuePath, message: string): void {
    this.errors.push({ path, message, severity: "error" });
  }

  warn(path: IssuePath, message: string): void {
    this.warnings.push({ path, message, severity: "warning" });
  }
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const MAX_SHOWN = 60;

/** A value as it appears in a message: JSON, shortened. */
export function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN - 1)}…` : text;
}

export function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "number") return Number.isInteger(value) ? "an integer" : "a number";
  return `a ${typeof value}`;
}

/** `got "1500" (a string)` */
export function got(value: unknown): string {
  return isObject(value) || Array.isArray(value) ? `got ${kindOf(value)}` : `got ${show(value)} (${kindOf(value)})`;
}

import { ifNameProblem } from "../names";

export { IFNAME_MAX_BYTES, IFNAME_RULE, SAFE_NAME_RE, ifNameProblem } from "../names";

/** Typed field readers: each reports a precise issue and returns undefined when the value is wrong or absent. */
export class FieldReader {
  constructor(
    private readonly issues: IssueCollector,
    private readonly obj: JsonObject,
    private readonly path: IssuePath,
  ) {}

  has(key: string): boolean {
    return Object.hasOwn(this.obj, key);
  }

  at(key: string): IssuePath {
    return [...this.path, key];
  }

  private wrongType(key: string, expected: string): undefined {
    this.issues.error(this.at(key), `${key} must be ${expected}, ${got(this.obj[key])}`);
    return undefined;
  }

  required(key: string, what: string): boolean {
    if (this.has(key)) return true;
    this.issues.error(this.at(key), `${key} is required: ${what}`);
    return false;
  }

  string(key: string, check?: (value: string) => string | undefined): string | undefined {
    if (!this.has(key)) return undefined;
    const value = this.obj[key];
    if (typeof value !== "string") return this.wrongType(key, "a string");
    const problem = check?.(value);
    if (problem) {
      this.issues.error(this.at(key), `${key} ${show(value)} is invalid: ${problem}`);
      return undefined;
    }
    return value;
  }

  boolean(key: string): boolean | undefined {
    if (!this.has(key)) return undefined;
    const value = this.obj[key];
    if (typeof value !== "boolean") return this.wrongType(key, "true or false");
    return value;
  }

  integer(key: string, min: number, max: number, hint = ""): number | undefined {
    if (!this.has(key)) return undefined;
    const value = this.obj[key];
    const range = `an integer from ${min} to ${max}${hint ? ` (${hint})` : ""}`;
    if (typeof value !== "number" || !Number.isSafeInteger(value)) return this.wrongType(key, range);
    if (value < min || value > max) {
      this.issues.error(this.at(key), `${key} ${value} is out of range: must be ${range}`);
      return undefined;
    }
    return value;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[]): T | undefined {
    if (!this.has(key)) return undefined;
    const value = this.obj[key];
    if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
    const list = allowed.map((a) => `"${a}"`).join(", ");
    if (typeof value !== "string") return this.wrongType(key, `one of ${list}`);
    this.issues.error(this.at(key), `${key} ${show(value)} is not supported: must be one of ${list}`);
    return undefined;
  }

  object(key: string): JsonObject | undefined {
    if (!this.has(key)) return undefined;
    const value = this.obj[key];
    if (!isObject(value)) return this.wrongType(key, "an object");
    return value;
  }

  array(key: string): unknown[] | undefined {
    if (!this.has(key)) return undefined;
    const value = this.obj[key];
    if (!Array.isArray(value)) return this.wrongType(key, "an array");
    return value;
  }

  stringArray(key: string, check?: (value: string) => string | undefined): string[] | undefined {
    const list = this.array(key);
    if (!list) return undefined;
    const out: string[] = [];
    list.forEach((item, index) => {
      const path = [...this.at(key), index];
      if (typeof item !== "string") {
        this.issues.error(path, `${key}[${index}] must be a string, ${got(item)}`);
        return;
      }
      const problem = check?.(item);
      if (problem) this.issues.error(path, `${key}[${index}] ${show(item)} is invalid: ${problem}`);
      else out.push(item);
    });
    return out;
  }

  ifName(key: string): string | undefined {
    return this.string(key, ifNameProblem);
  }

  mtu(key = "mtu"): number | undefined {
    return this.integer(key, 0, 65535, "0 for the default; Linux needs at least 68, IPv6 1280");
  }
}
