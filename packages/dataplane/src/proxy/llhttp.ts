import { createRequire } from "node:module";

/**
 * Node's own HTTP/1.1 parser: llhttp, compiled into Node, as node:http uses it (`HTTPParser` of
 * the `_http_common` module). The proxy reads both its clients and its members with it, in
 * strict mode: what node:http refuses (both Content-Length and Transfer-Encoding, two
 * Content-Lengths, obsolete line folding, a bare CR or LF, NUL in a value, a head over the
 * limit) it refuses too, with the same error codes. The module is Node's internal; it has kept
 * this shape from Node 12 to 22, and the proxy's tests exercise every callback it uses.
 */

export interface ParserError extends Error {
  code: string;
  reason?: string;
  bytesParsed?: number;
}

export interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  /** Parses `data`: the bytes parsed, or the error that stopped it. */
  execute(data: Buffer): number | ParserError;
  /** The connection ended: completes a message delimited by the close, or says it was cut. */
  finish(): number | ParserError | undefined;
  free(): void;
  [callback: number]: unknown;
}

interface HTTPParserClass {
  new (): LlhttpParser;
  REQUEST: number;
  RESPONSE: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kLenientNone: number;
}

const common = createRequire(import.meta.url)("_http_common") as { HTTPParser: HTTPParserClass; methods: string[] };

export const HTTPParser = common.HTTPParser;
/** llhttp's method numbers to names. */
export const METHODS: readonly string[] = common.methods;

/** The callbacks, as llhttp calls them. */
export type OnHeaders = (headers: string[], url: string) => void;
export type OnHeadersComplete = (
  versionMajor: number,
  versionMinor: number,
  headers: string[] | undefined,
  method: number | undefined,
  url: string | undefined,
  statusCode: number | undefined,
  statusMessage: string | undefined,
  upgrade: boolean,
  shouldKeepAlive: boolean,
) => number | undefined | void;
export type OnBody = (chunk: Buffer) => void;
