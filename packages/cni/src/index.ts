export * from "./config";
export { CNI_ERROR_CODES, type CniErrorCode, type CniErrorName, CniError, formatIssuePath } from "./errors";
