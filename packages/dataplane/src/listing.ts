import type { ChainObject, SetObject, TableObjects } from "./lower";

/**
 * `nft -j list table` (json_schema_version 1, nft 1.0.6) → the same objects the renderer builds,
 * for the shapes this package emits (both layouts): so a test can hold what the kernel holds
 * against what was rendered, and trace it. Any other shape throws.
 */

type Json = Record<string, unknown>;

export function objectsFromListing(listing: { nftables: Json[] }, family: 4 | 6): TableObjects {
  const ip = family === 4 ? "ip" : "ip6";
  const objects: TableObjects = { family, layout: "member-chains", chains: new Map(), sets: new Map(), elements: new Map() };
  for (const entry of listing.nftables) {
    const [kind, body] = Object.entries(entry)[0] as [string, Json];
    if (kind === "chain") {
      const spec = body.hook === undefined ? null : `{ type ${body.type} hook ${body.hook} priority ${body.prio} ; }`;
      objects.chains.set(String(body.name), { spec, rules: objects.chains.get(String(body.name))?.rules ?? [] });
    } else if (kind === "rule") {
      const chain = objects.chains.get(String(body.chain)) ?? ({ spec: null, rules: [] } satisfies ChainObject);
      objects.chains.set(String(body.chain), chain);
      const text = (body.expr as Json[]).map((s) => statement(s, ip)).join(" ");
      chain.rules.push(body.comment === undefined ? text : `${text} comment "${body.comment}"`);
    } else if (kind === "set" || kind === "map") {
      const name = String(body.name);
      objects.sets.set(name, setObject(kind, body));
      if (name.startsWith("affinity-")) continue; // packets write those
      objects.elements.set(name, new Map(((body.elem as unknown[]) ?? []).map((e) => element(kind, e))));
    } else if (kind !== "metainfo" && kind !== "table") throw new Error(`listing: unknown object ${kind}`);
  }
  if (objects.sets.has("masquerade-members")) objects.layout = "compact";
  return objects;
}

function setObject(kind: "set" | "map", body: Json): SetObject {
  const type = Array.isArray(body.type) ? body.type.join(" . ") : String(body.type);
  if (kind === "map") return { kind, spec: `type ${type} : ${body.map} ;` };
  const flags = (body.flags as string[] | undefined) ?? [];
  if (flags.includes("timeout")) return { kind, spec: `type ${type} ; flags dynamic,timeout ; timeout ${body.timeout}s ;` };
  if (flags.length === 1 && flags[0] === "interval") return { kind, spec: `type ${type} ; flags interval ;` };
  if (flags.length > 0) throw new Error(`listing: set ${body.name} has flags ${flags.join(",")} this reader does not know`);
  return { kind, spec: `type ${type} ;` };
}

function element(kind: "set" | "map", e: unknown): [string, string] {
  if (kind === "set") return [value(e), value(e)];
  const [k, v] = e as [unknown, Json];
  const wrapped = (k as Json).elem as Json | undefined;
  const key = value(wrapped ? wrapped.val : k);
  const comment = wrapped?.comment === undefined ? "" : ` comment "${wrapped.comment}"`;
  return [key, `${key}${comment} : ${verdict(v)}`];
}

function value(v: unknown): string {
  if (typeof v === "string" || typeof v === "number") return String(v);
  const o = v as Json;
  if (o.concat) return (o.concat as unknown[]).map(value).join(" . ");
  if (o.prefix) return `${(o.prefix as Json).addr}/${(o.prefix as Json).len}`;
  if (o.range) return (o.range as unknown[]).map(value).join("-");
  throw new Error(`listing: unknown value ${JSON.stringify(v)}`);
}

function verdict(v: Json): string {
  for (const k of ["jump", "goto"]) if (v[k]) return `${k} ${(v[k] as Json).target}`;
  for (const k of ["drop", "accept", "return"]) if (k in v) return k;
  throw new Error(`listing: unknown verdict ${JSON.stringify(v)}`);
}

const hex = (n: unknown) => `0x${Number(n).toString(16).padStart(8, "0")}`;

function operand(o: unknown): string {
  const x = o as Json;
  if (x.payload) return `${(x.payload as Json).protocol} ${(x.payload as Json).field}`;
  if (x.meta) return (x.meta as Json).key === "mark" ? "mark" : `meta ${(x.meta as Json).key}`;
  if (x.ct) return (x.ct as Json).dir === undefined ? `ct ${(x.ct as Json).key}` : `ct ${(x.ct as Json).dir} ${(x.ct as Json).key}`;
  if (x.concat) return (x.concat as unknown[]).map(operand).join(" . ");
  if (x.numgen) return `numgen ${(x.numgen as Json).mode} mod ${(x.numgen as Json).mod}`;
  if (x["&"]) return `${operand((x["&"] as unknown[])[0])} and ${hex((x["&"] as unknown[])[1])}`;
  throw new Error(`listing: unknown operand ${JSON.stringify(o)}`);
}

function statement(s: Json, ip: string): string {
  const [kind, body] = Object.entries(s)[0] as [string, Json];
  switch (kind) {
    case "match": {
      const left = operand(body.left);
      if (body.op === "<") return `${left} < ${value(body.right)}`;
      return left.includes(" and ") ? `${left} == ${body.right}` : `${left} ${value(body.right)}`;
    }
    case "jump":
    case "goto":
    case "drop":
    case "return":
      return verdict(s);
    case "reject":
      return "reject";
    case "masquerade":
      return body?.flags === "fully-random" ? "masquerade fully-random" : "masquerade";
    case "mangle": {
      const [op, args] = Object.entries(body.value as Json)[0] as [string, unknown[]];
      return `${operand(body.key)} set ${operand(args[0])} ${op === "|" ? "or" : op === "^" ? "xor" : op} ${hex(args[1])}`;
    }
    case "set":
      return `${body.op} ${body.set} { ${operand(body.elem)} }`;
    case "dnat": {
      const map = (body.addr as Json).map as Json | undefined;
      if (map === undefined) return ip === "ip" ? `dnat to ${body.addr}:${body.port}` : `dnat to [${body.addr}]:${body.port}`;
      const n = (map.key as Json).numgen as Json;
      const branches = ((map.data as Json).set as [unknown, unknown][]).map(([k, v]) => `${value(k)} : ${value(v)}`);
      return `dnat ${body.family} addr . port to numgen ${n.mode} mod ${n.mod} map { ${branches.join(", ")} }`;
    }
    case "vmap": {
      const key = body.key as Json;
      if (key.numgen) {
        const n = key.numgen as Json;
        const branches = ((body.data as Json).set as [unknown, Json][]).map(([k, v]) => `${value(k)} : ${verdict(v)}`);
        return `numgen ${n.mode} mod ${n.mod} vmap { ${branches.join(", ")} }`;
      }
      return `${(key.concat as unknown[]).map(operand).join(" . ")} vmap ${body.data}`;
    }
    default:
      throw new Error(`listing: unknown statement ${JSON.stringify(s)}`);
  }
}
