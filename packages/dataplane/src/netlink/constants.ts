import { NFNL_SUBSYS_NFTABLES, NLM_F } from "./wire";

// nf_tables' numbers (linux/netfilter/nf_tables.h, nfnetlink.h) and nft's datatype ids.

export const NFPROTO = { 4: 2, 6: 10 } as const;
export const MSG = (m: number) => (NFNL_SUBSYS_NFTABLES << 8) | m;
export const ADD = NLM_F.REQUEST | NLM_F.CREATE;

// Attribute numbers (linux/netfilter/nf_tables.h).
export const TABLE = { NAME: 1, FLAGS: 2, USERDATA: 6 };
export const CHAIN = { TABLE: 1, NAME: 3, HOOK: 4, TYPE: 7 };
export const HOOK = { NUM: 1, PRIORITY: 2 };
export const RULE = { TABLE: 1, CHAIN: 2, EXPRESSIONS: 4, USERDATA: 7 };
export const SET = { TABLE: 1, NAME: 2, FLAGS: 3, KEY_TYPE: 4, KEY_LEN: 5, DATA_TYPE: 6, DATA_LEN: 7, DESC: 9, ID: 10, TIMEOUT: 11, USERDATA: 13 };
export const SET_DESC = { SIZE: 1, CONCAT: 2 };
export const SET_FIELD_LEN = 1;
export const ELEMS = { TABLE: 1, SET: 2, ELEMENTS: 3, SET_ID: 4 };
export const ELEM = { KEY: 1, DATA: 2, FLAGS: 3, USERDATA: 6, KEY_END: 10 };
export const LIST_ELEM = 1;
export const EXPR = { NAME: 1, DATA: 2 };
export const DATA = { VALUE: 1, VERDICT: 2 };
export const VERDICT = { CODE: 1, CHAIN: 2 };

export const SET_F = { ANONYMOUS: 0x1, CONSTANT: 0x2, INTERVAL: 0x4, MAP: 0x8, TIMEOUT: 0x10, EVAL: 0x20, CONCAT: 0x80 };
export const ELEM_F_INTERVAL_END = 1;
export const NFT_DATA_VERDICT = 0xffffff00;

export const VERDICTS = { drop: 0, accept: 1, continue: -1, jump: -3, goto: -4, return: -5 } as const;
export const REG = { VERDICT: 0, R1: 1, R2: 2, R32: (i: number) => 8 + i } as const;
export const PAYLOAD_BASE = { network: 1, transport: 2 };
export const META_KEY = { mark: 3, l4proto: 16 };
export const CT_KEY = { state: 0, status: 2, dst_ip: 20, dst_ip6: 22 };
export const CMP = { eq: 0, neq: 1, lt: 2 };
export const HOOKS: Record<string, number> = { prerouting: 0, input: 1, forward: 2, output: 3, postrouting: 4 };
export const PROTO_NUMBERS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };
export const PROTO_BYTES: Record<string, Buffer> = Object.fromEntries(Object.entries(PROTO_NUMBERS).map(([p, n]) => [p, Buffer.from([n])]));
/** nft's datatype ids, 6 bits each in a concatenation's key type. */
export const DATATYPES: Record<string, { id: number; len: number }> = {
  ipv4_addr: { id: 7, len: 4 },
  ipv6_addr: { id: 8, len: 16 },
  inet_proto: { id: 12, len: 1 },
  inet_service: { id: 13, len: 2 },
};
export const TYPE_INTEGER = 4;
/** Below the 64 KiB an attribute can hold, with room for the largest element. */
export const ELEMENTS_PER_MESSAGE_BYTES = 60_000;
export const NFT_CT_STATE_NEW = 8;
/** The kernel names an anonymous set (`%d`); the batch refers to it by id. */
export const ANONYMOUS_MAP = "__map%d";
export const IPS_DST_NAT = 0x20;
export const NF_NAT_RANGE_PROTO_SPECIFIED = 2;
export const NF_NAT_RANGE_PROTO_RANDOM_FULLY = 0x10;
