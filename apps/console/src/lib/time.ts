export { formatRelative, formatTime } from "@switchyard/api/format";
