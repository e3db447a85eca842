export const DATAPLANE_ERROR_CODES = ["unsafe-text", "nft-failed", "nft-timeout", "netlink-unavailable", "netlink-unsupported", "netlink-refused", "netlink-failed"] as const;
export type DataplaneErrorCode = (typeof DATAPLANE_ERROR_CODES)[number];

/** The package's one error: the renderer's guard refusing a value, or `nft` failing. */
export class DataplaneError extends Error {
  constructor(
    readonly code: DataplaneErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "DataplaneError";
  }
}
