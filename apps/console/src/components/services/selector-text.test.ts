import { describe, expect, it } from "vitest";
import { formatSelector, parseLabelsText, parseSelectorText } from "./selector-text";

describe("selector text", () => {
  it("reads key=value pairs and writes them back", () => {
    const parsed = parseSelectorText(" app=web , tier=front ");
    expect(parsed).toEqual({ ok: true, value: { matchLabels: { app: "web", tier: "front" } } });
    expect(formatSelector(parsed.ok ? parsed.value : null)).toBe("app=web,tier=front");
    expect(parseSelectorText("")).toEqual({ ok: true, value: null });
  });
  it("names the piece that is not key=value, and a key given twice", () => {
    expect(parseSelectorText("app=web,tier")).toEqual({ ok: false, error: '"tier" is not key=value' });
    expect(parseSelectorText("=x")).toEqual({ ok: false, error: '"=x" is not key=value' });
    expect(parseSelectorText("a=1,a=2")).toEqual({ ok: false, error: '"a" is given twice' });
    expect(parseLabelsText("a=1")).toEqual({ ok: true, value: { a: "1" } });
  });
  it("shows expressions in Kubernetes' set form", () => {
    expect(formatSelector({ matchExpressions: [{ key: "tier", operator: "In", values: ["a", "b"] }, { key: "x", operator: "Exists" }, { key: "y", operator: "DoesNotExist" }] })).toBe("tier in (a,b),x,!y");
  });
});
