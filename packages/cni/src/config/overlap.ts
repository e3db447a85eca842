import { cidrsOverlap } from "@switchyard/ipam";
import { collectSubnets } from "./ipam";
import type { ConfigIssue, Conflist } from "./types";

/** Every IPAM subnet of a conflist (host-local ranges and legacy subnet, static addresses), as network CIDRs. */
export function networkSubnets(conflist: Conflist): string[] {
  return [...new Set(collectSubnets(conflist).map((s) => s.cidr.text))];
}

export interface OtherNetwork {
  name: string;
  conflist: Conflist;
}

/** Warnings for each subnet of `conflist` that overlaps a subnet of another network (same-named networks are skipped). */
export function findSubnetOverlaps(conflist: Conflist, others: readonly OtherNetwork[]): ConfigIssue[] {
  const mine = collectSubnets(conflist);
  const warnings: ConfigIssue[] = [];
  for (const other of others) {
    if (other.name === conflist.name) continue;
    const theirs = collectSubnets(other.conflist);
    for (const own of mine) {
      for (const their of theirs) {
        if (cidrsOverlap(own.cidr, their.cidr)) {
          warnings.push({
            path: own.path,
            severity: "warning",
            message: `subnet "${own.cidr.text}" overlaps subnet "${their.cidr.text}" of network "${other.name}": containers on both could get the same addresses`,
          });
        }
      }
    }
  }
  return warnings;
}
