import type { Conflist } from "./types";

/** CNI spec versions this runtime understands, oldest first. */
export const SUPPORTED_CNI_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;
export type CniVersion = (typeof SUPPORTED_CNI_VERSIONS)[number];

const SEMVER_RE = /^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})$/;

export function isSupportedCniVersion(version: string): version is CniVersion {
  return (SUPPORTED_CNI_VERSIONS as readonly string[]).includes(version);
}

export function isSemver(version: string): boolean {
  return SEMVER_RE.test(version);
}

/** Compares two `x.y.z` versions numerically. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The version a runtime uses for this conflist: the highest supported among `cniVersions`
 * and `cniVersion` (CNI 1.1 version selection), or undefined when none is supported.
 */
export function effectiveCniVersion(conflist: Pick<Conflist, "cniVersion" | "cniVersions">): CniVersion | undefined {
  const candidates = [...(conflist.cniVersions ?? []), conflist.cniVersion].filter(isSupportedCniVersion);
  return candidates.sort(compareVersions).at(-1);
}

export const SUPPORTED_VERSIONS_TEXT = SUPPORTED_CNI_VERSIONS.join(", ");
