import { IFNAME_MAX_BYTES, IFNAME_RULE, NETNS_NAME_MAX_LENGTH, NETWORK_NAME_MAX_LENGTH, SAFE_NAME_RE, SAFE_NAME_RULE, ifNameProblem } from "@switchyard/cni/names";
import { z } from "zod";
import { Role } from "./roles";

/** Shared with the UI: the one definition of each input. */
export const Id = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, "must be an id");
export { Role } from "./roles";
import { Labels } from "./schemas/services";
export const Username = z
  .string()
  .min(2)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, "use lowercase letters, digits, '.', '_' or '-', starting with a letter or digit");
export const Password = z.string().min(12, "must be at least 12 characters").max(256);
/** A conflist (or single .conf) as text; 1 MiB is far above any real config. */
export const ConfigText = z.string().max(1024 * 1024, "config is larger than 1 MiB");
export const Comment = z.string().max(500).default("");

export const SignInInput = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(256) });
export type SignInInput = z.infer<typeof SignInInput>;

export const CreateUserInput = z.object({
  username: Username,
  displayName: z.string().max(100).default(""),
  password: Password,
  role: Role,
});
export type CreateUserInput = z.infer<typeof CreateUserInput>;

export const CreateNetworkInput = z.object({ text: ConfigText, comment: Comment });
/**
 * How many held addresses the caller agreed to strand (the count they were shown): a revision
 * whose ranges leave held addresses outside is refused without it (ipamStranded.ts).
 */
const StrandAddresses = z.number().int().min(0).optional();
export const UpdateNetworkInput = z.object({
  id: Id,
  text: ConfigText,
  comment: Comment,
  expectedRevision: z.number().int().positive(),
  strandAddresses: StrandAddresses,
});
export const RollbackNetworkInput = z.object({
  id: Id,
  toRevision: z.number().int().positive(),
  expectedRevision: z.number().int().positive(),
  strandAddresses: StrandAddresses,
});
/** A draft to check while it is edited; `id` is the network being edited (its own subnets are no overlap). */
export const ValidateNetworkInput = z.object({ text: ConfigText, id: Id.optional() });
/** Apply the latest revision to all of a network's attachments on older ones, or to those named. */
export const ApplyLatestInput = z.object({ networkId: Id, attachmentIds: z.array(Id).min(1).max(500).optional() });
export const DeleteNetworkInput = z.object({ id: Id, confirmName: z.string().max(200) });
export const ImportNetworksInput = z.object({
  files: z
    .array(z.object({ fileName: z.string().min(1).max(255), text: ConfigText, strandAddresses: StrandAddresses }))
    .min(1)
    .max(200),
});


// ---- Hosts, attachments, operations ---------------------------------------------------------

/** A name under the CNI rule (packages/cni/src/names.ts), at most `max` characters. */
function cniNameOf(max: number) {
  return z.string().min(1, "must not be empty").max(max, `at most ${max} characters`).regex(SAFE_NAME_RE, SAFE_NAME_RULE);
}
/** CNI's rule for network names and container ids (libcni's); container ids kept as short as network names. */
export const CniName = cniNameOf(NETWORK_NAME_MAX_LENGTH);
/** A network namespace's name (netns and sandbox targets), as the agent resolves it. */
export const NetnsName = cniNameOf(NETNS_NAME_MAX_LENGTH);
export const IfName = cniNameOf(IFNAME_MAX_BYTES).refine((v) => ifNameProblem(v) === undefined, IFNAME_RULE);
export const Hostname = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/, "must be a host name");

export const CreateJoinTokenInput = z.object({
  note: z.string().max(200).default(""),
  /** Minutes until the token expires unused. */
  ttlMinutes: z.number().int().min(1).max(7 * 24 * 60).default(60),
});

export const PortMapping = z.object({
  hostPort: z.number().int().min(1).max(65535),
  containerPort: z.number().int().min(1).max(65535),
  protocol: z.enum(["tcp", "udp", "sctp"]).default("tcp"),
  hostIP: z.ipv4().or(z.ipv6()).optional(),
});

export const AttachmentTargetInput = z.discriminatedUnion("kind", [
  /** An existing namespace in the agent's netns directory, by name. */
  z.object({ kind: z.literal("netns"), name: NetnsName }),
  /** A running process's network namespace. */
  z.object({ kind: z.literal("pid"), pid: z.number().int().min(2).max(4_194_304) }),
  /** A namespace the agent creates for this attachment and deletes on detach. */
  z.object({ kind: z.literal("sandbox"), name: NetnsName.optional() }),
]);

export const CreateAttachmentInput = z.object({
  hostId: Id,
  networkId: Id,
  target: AttachmentTargetInput,
  /** Defaults to the namespace's name (sandbox, netns) or pid-<pid>. */
  containerId: CniName.optional(),
  ifName: IfName.default("eth0"),
  portMappings: z.array(PortMapping).max(64).default([]),
  /** Labels (Kubernetes rules): service pools whose selector matches take it once it is ready. */
  labels: Labels.default({}),
});
export type CreateAttachmentInput = z.infer<typeof CreateAttachmentInput>;


// ---- Agent protocol ---------------------------------------------------------------------------

/**
 * The largest request body an agent sends (issue 15 §2): it cuts what could grow past it (an
 * inventory's lists, IPAM report parts, batches of outcomes and job lines) to fit. A host at every
 * inventory list's limit with realistic names sends 1.2 MB, whole, within it. The console's agent
 * endpoint takes at least twice this (AGENT_MAX_BODY_BYTES_MIN, 3 MiB), whatever
 * SWITCHYARD_MAX_BODY_BYTES says, so what an agent legitimately sends is never a 413.
 */
export const AGENT_BODY_BUDGET_BYTES = 1.5 * 1024 * 1024;
export const AGENT_MAX_BODY_BYTES_MIN = 2 * AGENT_BODY_BUDGET_BYTES;

export const AgentVersion = z.string().max(64).default("");
export const EnrollInput = z.object({
  joinToken: z.string().min(1).max(200),
  hostname: Hostname,
  agentVersion: AgentVersion,
  /**
   * A random secret the agent keeps from its first try until it holds a credential: asking again
   * with the same token and key (the first answer was lost) is not "token used". Older agents omit it.
   */
  enrolmentKey: z.string().min(32).max(128).optional(),
});

const Short = z.string().max(200);
/** What an agent reports about its host; bounded everywhere, since it crosses a trust boundary. */
export const Inventory = z.object({
  hostname: Short,
  kernel: Short,
  addresses: z.array(z.object({ ifName: Short, address: Short })).max(256),
  plugins: z
    .array(z.object({ name: Short, path: z.string().max(1024), executable: z.boolean(), cniVersion: Short.optional(), supportedVersions: z.array(Short).max(32).optional(), error: z.string().max(1000).optional() }))
    .max(128),
  cniPath: z.array(z.string().max(1024)).max(16),
  netnsDir: z.string().max(1024),
  namespaces: z.array(Short).max(4096),
  confDir: z.string().max(1024),
  confFiles: z.array(z.object({ file: Short, networkName: Short.optional(), digest: z.string().regex(/^[0-9a-f]{64}$/).optional(), error: z.string().max(1000).optional() })).max(512),
  cacheDir: z.string().max(1024),
  cachedAttachments: z.array(z.object({ networkName: Short, containerId: Short, ifName: Short, netns: z.string().max(1024) })).max(4096),
  ipForward: z.object({ v4: z.boolean().nullable(), v6: z.boolean().nullable() }),
  tools: z.object({ nft: z.boolean(), iptables: z.boolean(), ip: z.boolean() }),
  /** One entry per ready attachment of an ipMasq network: its subnet(s) and whether its NAT rule is there. */
  masquerade: z.array(z.object({ networkName: Short, subnet: Short, containerId: Short.optional(), present: z.boolean() })).max(512).default([]),
  /** CNI STATUS of each network with attachments here (1.1.0 networks; older ones count as ready). */
  networkStatus: z.array(z.object({ networkName: Short, ready: z.boolean(), error: z.string().max(1000).optional() })).max(512).default([]),
  lastReconcile: z
    .object({
      at: z.date(),
      staleDeleted: z.number().int(),
      gcNetworks: z.number().int(),
      errors: z.array(z.string().max(1000)).max(50),
      /** What got through only with the console's current network revision (a cached config that failed). */
      warnings: z.array(z.string().max(1000)).max(50).optional(),
    })
    .nullable()
    .optional(),
  lastSubscriptionEventAt: z.date().nullable().optional(),
  /** The agent's push stream (SSE): open, or closed (the agent long-polls), since when. */
  pushStream: z.object({ open: z.boolean(), since: z.date() }).optional(),
  /** Lists the agent cut to keep the report within AGENT_BODY_BUDGET_BYTES, or entries it left out because this schema refuses them. */
  truncated: z.array(Short).max(32).optional(),
});
export type Inventory = z.infer<typeof Inventory>;

export const HeartbeatInput = z.object({
  agentVersion: AgentVersion,
  inventory: Inventory.optional(),
  /** The agent looked at the host and it is as last sent: the inventory stands as of now, without sending it again (issue 15). */
  inventoryUnchanged: z.literal(true).optional(),
});
/** Up to 64 operations per claim: the agent's largest concurrency, so a burst is one round trip. */
export const ClaimInput = z.object({ max: z.number().int().min(1).max(64).default(4) });
/** The push stream: with `slots` (the agent's concurrency) the stream claims for the agent and pushes the operations themselves. */
export const WorkInput = z.object({ slots: z.number().int().min(1).max(64) }).optional();
/** The operations an agent runs, or has finished and not yet reported (see releaseUnheld). */
const Holding = z.array(Id).max(1000);
export const PollInput = ClaimInput.extend({
  waitMs: z.number().int().min(0).max(25_000).default(20_000),
  /** Sent on the first poll after the push stream failed: claims made before this poll and not held are handed out again. */
  holding: Holding.optional(),
});
/** Sent when the push stream (re)opens: claims made before `openedAt` (the "open" event's) and not held are handed out again. */
export const HoldingInput = z.object({ openedAt: z.date(), operationIds: Holding });
export const FenceInput = z.object({ operationId: Id, attempt: z.number().int().min(1).max(1000) });
/** The longest job line, and the longest error of an outcome, the console stores. */
export const JOB_TEXT_MAX = 8000;
export const JobLine = z.object({ stream: z.enum(["agent", "plugin", "stderr"]), line: z.string().max(JOB_TEXT_MAX), at: z.date().optional() });
const JobLines = z.array(JobLine).max(200);
/** Job lines of the operations an agent is running, all in one call (one call per flush, however many run). */
export const LogInput = z.object({ entries: z.array(FenceInput.extend({ lines: JobLines.min(1) })).min(1).max(64) });
export const CompleteInput = FenceInput.extend({
  /** The job's last lines, stored with the outcome (saves the agent a log call per operation). */
  lines: JobLines.optional(),
  outcome: z.enum(["succeeded", "failed"]),
  result: z.record(z.string(), z.unknown()).optional(),
  error: z.string().max(JOB_TEXT_MAX).optional(),
  retryable: z.boolean().optional(),
});
/** Networks whose current revision's config the agent asks for (the way out of a stuck cached config). */
export const CurrentConfigsInput = z.object({ networkNames: z.array(CniName).min(1).max(512) });
/** Outcomes that finished together: one call, one statement (each still fenced on its own). */
export const CompleteManyInput = z.object({ outcomes: z.array(CompleteInput).min(1).max(64) });

/**
 * The inventory as stored (JSON): dates arrive as ISO text, and a report from an older agent may
 * lack newer lists, which read as empty so one odd field cannot break the page.
 */
export const StoredInventory = Inventory.extend({
  addresses: Inventory.shape.addresses.catch([]),
  plugins: Inventory.shape.plugins.catch([]),
  cniPath: Inventory.shape.cniPath.catch([]),
  namespaces: Inventory.shape.namespaces.catch([]),
  confFiles: Inventory.shape.confFiles.catch([]),
  cachedAttachments: Inventory.shape.cachedAttachments.catch([]),
  masquerade: Inventory.shape.masquerade.catch([]),
  networkStatus: Inventory.shape.networkStatus.catch([]),
  netnsDir: z.string().catch(""),
  confDir: z.string().catch(""),
  cacheDir: z.string().catch(""),
  ipForward: Inventory.shape.ipForward.catch({ v4: null, v6: null }),
  tools: Inventory.shape.tools.catch({ nft: false, iptables: false, ip: false }),
  lastReconcile: z
    .object({ at: z.coerce.date(), staleDeleted: z.number().int(), gcNetworks: z.number().int(), errors: z.array(z.string()), warnings: z.array(z.string()).catch([]).default([]) })
    .nullable()
    .optional()
    .catch(null),
  lastSubscriptionEventAt: z.coerce.date().nullable().optional().catch(null),
  pushStream: z.object({ open: z.boolean(), since: z.coerce.date() }).optional().catch(undefined),
  truncated: z.array(z.string()).optional().catch(undefined),
});
export type StoredInventory = z.infer<typeof StoredInventory>;

/** A port mapping as stored in an attachment's capability args (protocol defaulted). */
export type PortMapping = z.infer<typeof PortMapping>;

/** An attachment's capability args as stored and sent to the agent: only the port mappings, nothing else. */
export const CapabilityArgs = z.strictObject({ portMappings: z.array(PortMapping).max(64).optional() });
export type CapabilityArgs = z.infer<typeof CapabilityArgs>;

const NetworkConfigJson = z.record(z.string(), z.unknown());
/** Which config a DEL runs: the cached one ADD ran (with a fallback to the given one), or the given one only. */
export const ConfigSource = z.enum(["cached", "given"]);
export type ConfigSource = z.infer<typeof ConfigSource>;

/**
 * A claimed operation as the console sends it to the agent. The agent re-validates every payload
 * with this very schema (it trusts nothing it did not check itself), so the console and the agent
 * cannot drift on what a valid attachment is.
 */
export const OperationPayload = z
  .object({
    operationId: Id,
    attempt: z.number().int().min(1),
    kind: z.enum(["attach", "check", "detach", "reapply"]),
    generation: z.number().int(),
    attachment: z.object({
      id: Id,
      containerId: CniName,
      ifName: IfName,
      targetKind: z.enum(["netns", "pid", "sandbox"]),
      /** A namespace name (netns, sandbox) or a pid as text; the agent resolves and checks it again. */
      target: z.string().min(1).max(64),
      capabilityArgs: CapabilityArgs,
      networkName: CniName,
      networkRevision: z.number().int(),
    }),
    conflist: NetworkConfigJson,
    /** reapply: the revision the attachment runs now, DELed before the ADD with `conflist`. */
    previous: z.object({ networkRevision: z.number().int(), conflist: NetworkConfigJson }).optional(),
    /**
     * detach: which config the DEL runs. "cached" (the default): the one ADD ran, from the host's
     * result cache, falling back to `conflist` when that one cannot work. "given": `conflist` only
     * (the network's current revision), the way out for an attachment stuck on a cached config.
     */
    configSource: ConfigSource.optional(),
  })
  .refine((p) => p.kind !== "reapply" || p.previous !== undefined, { message: "a reapply needs the previous revision's config", path: ["previous"] })
  .refine((p) => p.configSource === undefined || p.kind === "detach", { message: "only a detach chooses its config source", path: ["configSource"] });
export type OperationPayload = z.infer<typeof OperationPayload>;

/** An attachment's CNI result as the agent reported it (the 1.x shape). */
export const AttachmentResult = z.object({
  cniVersion: z.string().catch(""),
  interfaces: z.array(z.object({ name: z.string(), mac: z.string().optional(), mtu: z.number().optional(), sandbox: z.string().optional() })).catch([]),
  ips: z.array(z.object({ address: z.string(), gateway: z.string().optional(), interface: z.number().int().optional() })).catch([]),
  routes: z.array(z.object({ dst: z.string(), gw: z.string().optional(), mtu: z.number().optional(), advmss: z.number().optional(), priority: z.number().optional(), table: z.number().optional(), scope: z.number().optional() })).catch([]),
  dns: z.object({ nameservers: z.array(z.string()).optional(), domain: z.string().optional(), search: z.array(z.string()).optional(), options: z.array(z.string()).optional() }).optional().catch(undefined),
});
export type AttachmentResult = z.infer<typeof AttachmentResult>;
