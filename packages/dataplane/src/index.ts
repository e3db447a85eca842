// The pure part of the services data plane (issue 12): what a host must program, the rendered
// table, the transactions between two states, and a tracer. Running nft is `@switchyard/dataplane/nft`.
export {
  CanonicalCidr,
  CanonicalIp,
  DesiredMember,
  DesiredPort,
  DesiredService,
  DesiredServices,
  MEMBER_HEALTHS,
  MEMBER_STATES,
  MemberHealth,
  MemberState,
  PROTOCOLS,
  PortNumber,
  Protocol,
  SERVICE_LIMITS,
  ServiceId,
  ServiceName,
  isSelectable,
  memberAddressProblem,
} from "./desired";
export { DATAPLANE_ERROR_CODES, DataplaneError, type DataplaneErrorCode } from "./errors";
export { DEFAULT_MARK_BIT, type MemberIR, type PortIR, type RenderOptions, type TableIR, renderTable } from "./render";
export { LAYOUTS, type Layout, type TableObjects, lowerTable } from "./lower";
export { type Belief, type RenderedService, type SyncPlan, beliefObjects, beliefTable, holdsBelief, planCleanup, planSync } from "./transaction";
export { type Op, opsText } from "./ops";
export { objectsFromListing } from "./listing";
export { type Share, type TraceOutcome, type TracePacket, tracePacket } from "./trace";
export { type NumgenPlan, planNumgen } from "./weights";
