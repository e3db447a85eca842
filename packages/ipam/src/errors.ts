import type { IpParseError, IpParseErrorKind } from "./address";

export const IPAM_ERROR_CODES = ["invalid-input"] as const;
export type IpamErrorCode = (typeof IPAM_ERROR_CODES)[number];

/** Thrown by the helpers that accept text and cannot return a result (`cidrContains("bad", …)`). */
export class IpamError extends Error {
  readonly code: IpamErrorCode;
  readonly kind: IpParseErrorKind;
  readonly input: string;

  constructor(error: IpParseError) {
    super(error.message);
    this.name = "IpamError";
    this.code = "invalid-input";
    this.kind = error.kind;
    this.input = error.input;
  }
}
