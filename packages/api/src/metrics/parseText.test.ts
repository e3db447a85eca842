import { describe, expect, it } from "vitest";
import { escapeLabelValue } from "./fleet";
import { parseMetricsText } from "./parseText";

describe("parseMetricsText (strict)", () => {
  it("reads families, labels with escapes and histogram samples", () => {
    const text = [
      "# HELP a_total A.",
      "# TYPE a_total counter",
      `a_total{x="1",y="${escapeLabelValue('q"u\\o\nte')}"} 3`,
      "# TYPE h histogram",
      'h_bucket{le="+Inf"} 2',
      "h_sum 0.5",
      "h_count 2",
      "",
    ].join("\n");
    const m = parseMetricsText(text);
    expect(m.value("a_total", { x: "1" })).toBe(3);
    expect(m.find("a_total")[0]!.labels.y).toBe('q"u\\o\nte');
    expect(m.value("h_count")).toBe(2);
    expect(m.types.get("h")).toBe("histogram");
  });

  it("refuses what Prometheus refuses: an untyped sample, a family typed twice, a series written twice, junk", () => {
    expect(() => parseMetricsText("b 1\n")).toThrow("before its TYPE");
    expect(() => parseMetricsText("# TYPE b gauge\n# TYPE b gauge\n")).toThrow("typed twice");
    expect(() => parseMetricsText('# TYPE b gauge\nb{x="1"} 1\nb{x="1"} 2\n')).toThrow("written twice");
    expect(() => parseMetricsText("# TYPE b gauge\nb{x=1} 1\n")).toThrow("not quoted");
    expect(() => parseMetricsText("# TYPE b gauge\nb one\n")).toThrow("bad value");
    expect(() => parseMetricsText("hello world, this is not a metric\n")).toThrow();
  });
});
