import { describe, expect, it } from "vitest";
import { allBlocks, blockOf, breadcrumbs, childPrefix, gridAddresses, inRange, isGrid, toCidr } from "./map-math";

describe("the map's zoom levels", () => {
  it("a /24 and an IPv6 /120 are grids; larger spaces are blocks of 256 a level", () => {
    expect(isGrid(toCidr("10.0.0.0/24"))).toBe(true);
    expect(isGrid(toCidr("10.0.0.0/30"))).toBe(true);
    expect(isGrid(toCidr("10.0.0.0/23"))).toBe(false);
    expect(isGrid(toCidr("fd00::/120"))).toBe(true);
    expect(childPrefix(toCidr("10.0.0.0/8"))).toBe(16);
    expect(childPrefix(toCidr("10.0.0.0/16"))).toBe(24);
    expect(childPrefix(toCidr("10.0.0.0/20"))).toBe(24);
    expect(childPrefix(toCidr("fd00::/64"))).toBe(72);
    expect(childPrefix(toCidr("fd00::/116"))).toBe(120);
  });

  it("a grid lists its addresses; a heatmap its blocks", () => {
    expect(gridAddresses(toCidr("10.1.2.4/30"))).toEqual(["10.1.2.4", "10.1.2.5", "10.1.2.6", "10.1.2.7"]);
    expect(gridAddresses(toCidr("10.1.2.0/24"))).toHaveLength(256);
    const blocks = allBlocks(toCidr("10.1.0.0/16"), 24);
    expect(blocks).toHaveLength(256);
    expect([blocks[0], blocks[255]]).toEqual(["10.1.0.0/24", "10.1.255.0/24"]);
    expect(allBlocks(toCidr("10.1.16.0/20"), 24)).toHaveLength(16);
  });

  it("an address or a smaller block falls in its block", () => {
    expect(blockOf("10.1.77.9", 24)).toBe("10.1.77.0/24");
    expect(blockOf("10.1.77.0/24", 16)).toBe("10.1.0.0/16");
    expect(blockOf("fd00:0:0:0:1234::1", 72)).toBe("fd00::1200:0:0:0/72");
  });

  it("breadcrumbs run from the subnet to the block shown", () => {
    expect(breadcrumbs("10.0.0.0/8", "10.1.77.0/24")).toEqual(["10.0.0.0/8", "10.1.0.0/16", "10.1.77.0/24"]);
    expect(breadcrumbs("10.1.0.0/16", "10.1.0.0/16")).toEqual(["10.1.0.0/16"]);
    expect(breadcrumbs("10.1.16.0/20", "10.1.17.0/24")).toEqual(["10.1.16.0/20", "10.1.17.0/24"]);
  });

  it("ranges include both ends and never another family", () => {
    expect(inRange("10.0.0.5", "10.0.0.5", "10.0.0.5")).toBe(true);
    expect(inRange("10.0.0.6", "10.0.0.1", "10.0.0.5")).toBe(false);
    expect(inRange("fd00::1", "10.0.0.1", "10.0.0.5")).toBe(false);
  });
});
