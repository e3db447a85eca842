import type { TRPC_ERROR_CODE_KEY } from "@trpc/server";

/** The closed list of domain error codes the API raises. */
export const API_ERROR_CODES = [
  "BAD_INPUT",
  "INVALID_CONFIG",
  "NOT_FOUND",
  "CONFLICT",
  "FORBIDDEN",
  "UNAUTHORIZED",
  "LAST_ADMIN",
  "STALE_REVISION",
  "STALE_ATTEMPT",
  "WOULD_STRAND",
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/** A new code without a mapping fails to compile. */
export const TRPC_CODE_OF: Record<ApiErrorCode, TRPC_ERROR_CODE_KEY> = {
  BAD_INPUT: "BAD_REQUEST",
  INVALID_CONFIG: "BAD_REQUEST",
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  FORBIDDEN: "FORBIDDEN",
  UNAUTHORIZED: "UNAUTHORIZED",
  LAST_ADMIN: "PRECONDITION_FAILED",
  STALE_REVISION: "CONFLICT",
  STALE_ATTEMPT: "CONFLICT",
  WOULD_STRAND: "PRECONDITION_FAILED",
};

export interface FieldIssue {
  path: (string | number)[];
  message: string;
  severity: "error" | "warning";
  offset?: number;
  length?: number;
}

export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly issues: FieldIssue[];
  constructor(code: ApiErrorCode, message: string, issues: FieldIssue[] = []) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.issues = issues;
  }
}
