export { appRouter, createCaller, type AppRouter } from "./root";
export { createContextInner, type Context, type ConsoleDeps, type InnerContextOptions, type RequestMeta } from "./context";
export { createEventBus, type EventBus, type NetworkChange } from "./events";
export { ApiError, API_ERROR_CODES, type ApiErrorCode, type FieldIssue } from "./errors";
export { ensureBootstrapAdmin } from "./domain/users";
export { hashPassword, verifyPassword } from "./auth/password";
export { SESSION_COOKIE, validateSessionToken, type Session, type SessionUser, type SessionPolicy } from "./auth/session";
export * as schemas from "./schemas";
