import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { fixtureDesired } from "./fixtures";
import { objectsFromListing } from "./listing";
import { lowerTable } from "./lower";
import { renderTable } from "./render";
import { tracePacket } from "./trace";

// Captured once from `nft -j list table ip switchyard` (nft 1.0.6) after a cold apply of the
// design's §3 model (both layouts); test/nft.int.test.ts checks the same against live listings.
const listing = JSON.parse(readFileSync(new URL("../test/fixtures/listing-v4.json", import.meta.url), "utf8"));

describe("objectsFromListing", () => {
  it("reads back exactly the objects that were rendered", () => {
    expect(objectsFromListing(listing, 4)).toEqual(lowerTable(renderTable(fixtureDesired(4))));
  });

  it("reads the compact layout back too", () => {
    const compact = JSON.parse(readFileSync(new URL("../test/fixtures/listing-v4-compact.json", import.meta.url), "utf8"));
    expect(objectsFromListing(compact, 4)).toEqual(lowerTable(renderTable(fixtureDesired(4), { layout: "compact" })));
    const dns = tracePacket(objectsFromListing(compact, 4), { saddr: "10.88.0.50", daddr: "10.241.0.11", protocol: "udp", dport: 53, from: "sandbox" });
    expect(dns.map((o) => (o.kind === "member" ? `${o.address} ${o.share.num}/${o.share.den} ${o.masquerade}` : o.kind))).toEqual(["10.88.0.21 5/8 true", "10.88.0.22 3/8 true"]);
  });

  it("feeds the tracer: web splits 1/10, 2/10, 7/10 from the kernel's own listing", () => {
    const outcomes = tracePacket(objectsFromListing(listing, 4), { saddr: "10.77.0.5", daddr: "10.241.0.10", protocol: "tcp", dport: 80, from: "sandbox" });
    expect(outcomes.map((o) => (o.kind === "member" ? `${o.address} ${o.share.num}/${o.share.den}` : o.kind))).toEqual(["10.88.0.11 1/10", "10.88.0.12 2/10", "10.89.3.7 7/10"]);
  });

  it("throws on a statement it does not know", () => {
    const edited = structuredClone(listing);
    edited.nftables.push({ rule: { family: "ip", table: "switchyard", chain: "services", handle: 99, expr: [{ counter: { packets: 0, bytes: 0 } }] } });
    expect(() => objectsFromListing(edited, 4)).toThrow(/unknown statement/);
  });
});
