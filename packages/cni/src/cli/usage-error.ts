import { CniError } from "../errors";

/** An error in how the CLI was invoked (exit 2), carrying the CNI code closest to it. */
export class UsageError extends CniError {}
