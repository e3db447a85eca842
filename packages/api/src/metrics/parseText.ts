/**
 * A strict reader of the Prometheus text format (0.0.4), for tests that scrape /metrics: every
 * line must be a HELP, a TYPE or a sample; a sample's family must have been typed before it; a
 * family typed twice or a series written twice is an error (what Prometheus itself refuses).
 */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedMetrics {
  types: Map<string, string>;
  samples: MetricSample[];
  /** The value of the one sample of `name` whose labels include `labels` (undefined when none; throws when several). */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** Samples of `name` whose labels include `labels`. */
  find(name: string, labels?: Record<string, string>): MetricSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const HISTOGRAM_SUFFIXES = ["_bucket", "_sum", "_count"];

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf("=", i);
    if (eq < 0) throw new Error(`line ${line}: label without "=" in {${text}}`);
    const key = text.slice(i, eq);
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(key)) throw new Error(`line ${line}: bad label name ${JSON.stringify(key)}`);
    if (key in labels) throw new Error(`line ${line}: label ${key} twice`);
    if (text[eq + 1] !== '"') throw new Error(`line ${line}: label ${key}'s value is not quoted`);
    let value = "";
    let j = eq + 2;
    for (;;) {
      const c = text[j];
      if (c === undefined) throw new Error(`line ${line}: unterminated value of label ${key}`);
      if (c === '"') break;
      if (c === "\\") {
        const n = text[j + 1];
        if (n === "\\") value += "\\";
        else if (n === '"') value += '"';
        else if (n === "n") value += "\n";
        else throw new Error(`line ${line}: bad escape \\${n} in label ${key}`);
        j += 2;
        continue;
      }
      value += c;
      j++;
    }
    labels[key] = value;
    i = j + 1;
    if (i < text.length) {
      if (text[i] !== ",") throw new Error(`line ${line}: expected "," after label ${key}`);
      i++;
    }
  }
  return labels;
}

function parseValue(text: string, line: number): number {
  // As Prometheus reads values (Go's ParseFloat): Inf and NaN in any case. prom-client writes "Nan".
  if (/^\+?inf(inity)?$/i.test(text)) return Number.POSITIVE_INFINITY;
  if (/^-inf(inity)?$/i.test(text)) return Number.NEGATIVE_INFINITY;
  if (/^nan$/i.test(text)) return Number.NaN;
  if (!/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text)) throw new Error(`line ${line}: bad value ${JSON.stringify(text)}`);
  return Number(text);
}

const includes = (labels: Record<string, string>, want: Record<string, string>) => Object.entries(want).every(([k, v]) => labels[k] === v);

export function parseMetricsText(text: string): ParsedMetrics {
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: MetricSample[] = [];
  const series = new Set<string>();
  text.split("\n").forEach((raw, index) => {
    const line = index + 1;
    if (raw === "") return;
    if (raw.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (!m) throw new Error(`line ${line}: a comment that is neither HELP nor TYPE: ${raw}`);
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name ${name}`);
      if (kind === "TYPE") {
        if (types.has(name)) throw new Error(`line ${line}: ${name} is typed twice`);
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(rest)) throw new Error(`line ${line}: unknown type ${rest}`);
        types.set(name, rest);
      } else {
        if (helps.has(name)) throw new Error(`line ${line}: ${name} has HELP twice`);
        helps.add(name);
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)( -?\d+)?$/.exec(raw);
    if (!m) throw new Error(`line ${line}: not a sample: ${raw}`);
    const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string];
    const family = types.has(name) ? name : HISTOGRAM_SUFFIXES.map((s) => (name.endsWith(s) ? name.slice(0, -s.length) : "")).find((f) => f && ["histogram", "summary"].includes(types.get(f) ?? ""));
    if (!family) throw new Error(`line ${line}: sample of ${name} before its TYPE`);
    const labels = labelText ? parseLabels(labelText, line) : {};
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) throw new Error(`line ${line}: series ${name}${labelText ? `{${labelText}}` : ""} written twice`);
    series.add(key);
    samples.push({ name, labels, value: parseValue(valueText, line) });
  });
  const find = (name: string, labels: Record<string, string> = {}) => samples.filter((s) => s.name === name && includes(s.labels, labels));
  return {
    types,
    samples,
    find,
    value(name, labels = {}) {
      const found = find(name, labels);
      if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
      return found[0]?.value;
    },
  };
}
