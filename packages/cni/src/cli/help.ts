/**
 * The help texts and "did you mean" hints, laid out as commander 14 laid them out when it parsed
 * this CLI (same columns, wrapping and wording), from the tables in spec.ts.
 */
import { ENV_HELP, HELP_OPTION, type OptionSpec, PROGRAM, VERBS, type VerbSpec } from "./spec";

/** Commander wraps to the terminal's width on a TTY, else to 80 columns; never narrower than 40. */
export function helpWidth(stream: { readonly isTTY?: boolean; readonly columns?: number | undefined }): number {
  return (stream.isTTY && stream.columns) || 80;
}

const MIN_WIDTH_TO_WRAP = 40;

/** Greedy word wrap, keeping the text's own line breaks (commander's boxWrap). */
function wrap(text: string, width: number): string {
  if (width < MIN_WIDTH_TO_WRAP) return text;
  const lines: string[] = [];
  for (const line of text.split(/\r\n|\n/)) {
    const chunks = line.match(/\s*\S+/g);
    if (!chunks) {
      lines.push("");
      continue;
    }
    let current = chunks.shift()!;
    for (const chunk of chunks) {
      if (current.length + chunk.length <= width) current += chunk;
      else {
        lines.push(current);
        current = chunk.trimStart();
      }
    }
    lines.push(current);
  }
  return lines.join("\n");
}

/** One "  term   description" row, the description wrapped in its own column. */
function item(term: string, termWidth: number, description: string, width: number): string {
  const remaining = width - termWidth - 4;
  const text = remaining < MIN_WIDTH_TO_WRAP || /\n[^\S\r\n]/.test(description) ? description : wrap(description, remaining).replace(/\n/g, `\n${" ".repeat(termWidth + 2)}`);
  return `  ${term.padEnd(termWidth)}  ${text.replace(/\n/g, "\n  ")}`;
}

function optionDescription(option: OptionSpec): string {
  return option.initial === undefined ? option.description : `${option.description} (default: ${JSON.stringify(option.initial)})`;
}

function verbTerm(verb: VerbSpec): string {
  return `${verb.name} [options] ${verb.args.join(" ")}`;
}

function layout(usage: string, description: string, sections: [string, [string, string][]][], width: number): string {
  const termWidth = Math.max(...sections.flatMap(([, rows]) => rows.map(([term]) => term.length)));
  const out = [`Usage: ${usage}`, "", wrap(description, width), ""];
  for (const [heading, rows] of sections) out.push(heading, ...rows.map(([term, text]) => item(term, termWidth, text, width)), "");
  // The environment is commander's "after" help text of every command.
  return `${out.join("\n")}${ENV_HELP}\n`;
}

export function formatProgramHelp(width: number): string {
  return layout(
    `${PROGRAM.name} [options] [command]`,
    PROGRAM.description,
    [
      ["Options:", [[HELP_OPTION.flags, HELP_OPTION.description]]],
      ["Commands:", [...VERBS.map((v): [string, string] => [verbTerm(v), v.description]), ["help [command]", "display help for command"]]],
    ],
    width,
  );
}

export function formatVerbHelp(verb: VerbSpec, width: number): string {
  const options = [...verb.options, HELP_OPTION].map((o): [string, string] => [o.flags, optionDescription(o)]);
  return layout(`${PROGRAM.name} ${verb.name} [options] ${verb.args.join(" ")}`, verb.description, [["Options:", options]], width);
}

/** Optimal string alignment distance, capped (commander's suggestSimilar). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return Math.max(a.length, b.length);
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d[i] = [i];
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let j = 1; j <= b.length; j++) {
    for (let i = 1; i <= a.length; i++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** "\n(Did you mean add?)" for a near miss among `candidates`, else "". Long options are compared without their "--". */
export function suggestSimilar(word: string, candidates: readonly string[]): string {
  const options = word.startsWith("--");
  const target = options ? word.slice(2) : word;
  let best = 3;
  let similar: string[] = [];
  for (const candidate of new Set(options ? candidates.map((c) => c.slice(2)) : candidates)) {
    if (candidate.length <= 1) continue;
    const distance = editDistance(target, candidate);
    const length = Math.max(target.length, candidate.length);
    if ((length - distance) / length <= 0.4) continue;
    if (distance < best) {
      best = distance;
      similar = [candidate];
    } else if (distance === best) similar.push(candidate);
  }
  similar.sort((a, b) => a.localeCompare(b));
  if (options) similar = similar.map((c) => `--${c}`);
  if (similar.length > 1) return `\n(Did you mean one of ${similar.join(", ")}?)`;
  return similar.length === 1 ? `\n(Did you mean ${similar[0]}?)` : "";
}
