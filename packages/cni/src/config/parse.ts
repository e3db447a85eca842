import { type Node, type ParseError, createScanner, findNodeAtLocation, parseTree, printParseErrorCode } from "jsonc-parser";
import { isObject, show } from "./check";
import type { ConfigIssue, ConfigResult, IssuePath } from "./types";
import { DEFAULT_MAX_DEPTH, validateConflist } from "./validate";

export const DEFAULT_MAX_BYTES = 1024 * 1024;

export interface ParseOptions {
  /** Largest accepted input in UTF-8 bytes (default 1 MiB). */
  maxBytes?: number;
  /** Deepest accepted nesting of objects and arrays (default 32). */
  maxDepth?: number;
}

// jsonc-parser's SyntaxKind is a const enum, which isolatedModules cannot read.
const OPEN_BRACE = 1;
const CLOSE_BRACE = 2;
const OPEN_BRACKET = 3;
const CLOSE_BRACKET = 4;
const EOF = 17;

const PARSE_ERROR_TEXT: Record<string, string> = {
  InvalidSymbol: "unexpected character",
  InvalidNumberFormat: "invalid number",
  PropertyNameExpected: "expected a property name in double quotes",
  ValueExpected: "expected a value",
  ColonExpected: 'expected ":"',
  CommaExpected: 'expected ","',
  CloseBraceExpected: 'expected "}"',
  CloseBracketExpected: 'expected "]"',
  EndOfFileExpected: "unexpected content after the end of the JSON value",
  InvalidCommentToken: "comments are not allowed in JSON",
  UnexpectedEndOfComment: "unterminated comment",
  UnexpectedEndOfString: "unterminated string",
  UnexpectedEndOfNumber: "unterminated number",
  InvalidUnicode: "invalid \\u escape",
  InvalidEscapeCharacter: "invalid escape character",
  InvalidCharacter: "invalid character in string (control characters must be escaped)",
};
const MAX_SYNTAX_ERRORS = 10;

// Counted by hand rather than with Buffer so the parser also runs in the browser editor.
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function lineColumn(text: string, offset: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return `line ${line}, column ${offset - lineStart + 1}`;
}

function issue(path: IssuePath, message: string, offset?: number, length?: number): ConfigIssue {
  const out: ConfigIssue = { path, message, severity: "error" };
  if (offset !== undefined) {
    out.offset = offset;
    out.length = length ?? 0;
  }
  return out;
}

function failure(errors: ConfigIssue[], warnings: ConfigIssue[] = []): ConfigResult {
  return { ok: false, errors, warnings };
}

/** Finds the first bracket that nests deeper than maxDepth, with jsonc-parser's scanner (no recursion). */
function findTooDeep(text: string, maxDepth: number): number | undefined {
  const scanner = createScanner(text, true);
  let depth = 0;
  for (let token = scanner.scan(); token !== EOF; token = scanner.scan()) {
    if (token === OPEN_BRACE || token === OPEN_BRACKET) {
      depth++;
      if (depth > maxDepth) return scanner.getTokenOffset();
    } else if (token === CLOSE_BRACE || token === CLOSE_BRACKET) {
      depth--;
    }
  }
  return undefined;
}

function nodePath(node: Node): IssuePath {
  const path: IssuePath = [];
  let current: Node | undefined = node;
  while (current?.parent) {
    const parent: Node = current.parent;
    if (parent.type === "property") {
      const key = parent.children?.[0];
      if (key) path.unshift(key.value as string);
      current = parent.parent;
    } else if (parent.type === "array") {
      path.unshift(parent.children?.indexOf(current) ?? 0);
      current = parent;
    } else {
      current = parent;
    }
  }
  return path;
}

function findDuplicateKeys(root: Node): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.type === "object") {
      const seen = new Set<string>();
      for (const property of node.children ?? []) {
        const key = property.children?.[0];
        if (!key) continue;
        const name = key.value as string;
        if (seen.has(name)) {
          const where = nodePath(node);
          const place = where.length > 0 ? `in ${show(where)}` : "at the top level";
          issues.push(issue([...where, name], `duplicate key ${JSON.stringify(name)} ${place}: each key may appear once`, key.offset, key.length));
        }
        seen.add(name);
      }
    }
    for (const child of node.children ?? []) stack.push(child);
  }
  return issues;
}

/** A single-plugin .conf has a top-level `type` and no `plugins`; libcni's ConfListFromConf wraps it. */
function isSingleConf(value: Record<string, unknown>): boolean {
  return Object.hasOwn(value, "type") && !Object.hasOwn(value, "plugins");
}

/** Wraps a single-plugin .conf into `{ cniVersion, name, plugins: [rest] }`. */
export function confToConflist(conf: Record<string, unknown>): Record<string, unknown> {
  const { cniVersion, name, ...rest } = conf;
  const conflist: Record<string, unknown> = {};
  if (cniVersion !== undefined) conflist.cniVersion = cniVersion;
  if (name !== undefined) conflist.name = name;
  conflist.plugins = [rest];
  return conflist;
}

function locate(root: Node, path: IssuePath, wrapped: boolean): { offset: number; length: number } | undefined {
  let sourcePath = path;
  if (wrapped && path[0] === "plugins") {
    // plugins[0].x of the wrapped conflist is .x of the .conf.
    sourcePath = path.slice(2);
    if (path.length < 2) return { offset: root.offset, length: 1 };
  }
  for (let n = sourcePath.length; n >= 0; n--) {
    const node = findNodeAtLocation(root, sourcePath.slice(0, n));
    if (!node) continue;
    if (n === sourcePath.length) {
      // An object or array value can span the whole file; underline its key instead.
      const keyNode = node.parent?.type === "property" ? node.parent.children?.[0] : undefined;
      const isContainer = node.type === "object" || node.type === "array";
      return keyNode && isContainer ? { offset: keyNode.offset, length: keyNode.length } : { offset: node.offset, length: node.length };
    }
    // The field is missing: point at the start of the nearest enclosing value.
    return { offset: node.offset, length: 1 };
  }
  return undefined;
}

/** Adds source offsets to issues found on the value parsed from `text` (e.g. overlap warnings). */
export function locateIssues(text: string, issues: ConfigIssue[]): ConfigIssue[] {
  const syntax: ParseError[] = [];
  const root = parseTree(text, syntax, { disallowComments: true, allowTrailingComma: false });
  if (!root || syntax.length > 0) return issues;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return issues;
  }
  const wrapped = isObject(value) && isSingleConf(value);
  return issues.map((i) => ({ ...i, ...locate(root, i.path, wrapped) }));
}

/**
 * Parses and validates the text of a network configuration (a .conflist, or a single-plugin
 * .conf which is wrapped into a conflist). Issues carry offsets into `text` for an editor.
 */
export function parseNetworkConfig(text: string, options: ParseOptions = {}): ConfigResult {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  // Each UTF-16 unit is at least one UTF-8 byte, so an over-long string is refused without measuring it.
  const size = text.length > maxBytes ? text.length : utf8Length(text);
  if (size > maxBytes) {
    return failure([issue([], `configuration is ${text.length > maxBytes ? "at least " : ""}${size} bytes: the limit is ${maxBytes} bytes`)]);
  }
  const deepAt = findTooDeep(text, maxDepth);
  if (deepAt !== undefined) {
    return failure([issue([], `configuration nests deeper than ${maxDepth} levels at ${lineColumn(text, deepAt)}: flatten it`, deepAt, 1)]);
  }
  const syntax: ParseError[] = [];
  const root = parseTree(text, syntax, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  if (syntax.length > 0 || !root) {
    const errors = syntax.slice(0, MAX_SYNTAX_ERRORS).map((e) => {
      const code = printParseErrorCode(e.error);
      return issue([], `malformed JSON at ${lineColumn(text, e.offset)}: ${PARSE_ERROR_TEXT[code] ?? code}`, e.offset, e.length);
    });
    return failure(errors.length > 0 ? errors : [issue([], "malformed JSON: the configuration is empty", 0, 0)]);
  }
  if (root.type !== "object") {
    return failure([issue([], `the top level must be a JSON object ({…}), got ${root.type === "array" ? "an array" : `a ${root.type}`}`, root.offset, root.length)]);
  }
  const duplicates = findDuplicateKeys(root);
  if (duplicates.length > 0) return failure(duplicates);

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // jsonc-parser accepted what the platform parser did not; refuse rather than guess.
    return failure([issue([], `malformed JSON: ${(error as Error).message}`)]);
  }
  const wrapped = isObject(value) && isSingleConf(value);
  const result = validateConflist(wrapped ? confToConflist(value as Record<string, unknown>) : value, { maxDepth });
  const withOffsets = (list: ConfigIssue[]) => list.map((i) => ({ ...i, ...locate(root, i.path, wrapped) }));
  return result.ok
    ? { ok: true, conflist: result.conflist, warnings: withOffsets(result.warnings) }
    : { ok: false, errors: withOffsets(result.errors), warnings: withOffsets(result.warnings) };
}
