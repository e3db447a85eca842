import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ConfDirFile, type DeployWant, type Manifest, managedFileName, planConfDir } from "./plan";

const conflist = (network: string, revision: number) => `{"cniVersion":"1.0.0","name":"${network}","plugins":[{"type":"bridge","bridge":"br-${revision}"}]}`;
const want = (network: string, revision: number, drift: DeployWant["drift"] = "restore"): DeployWant => ({ network, revision, conflist: conflist(network, revision), drift });
const file = (content: string, network?: string): ConfDirFile => ({ content, network });
const ours = (network: string, revision: number, drift: DeployWant["drift"] = "restore"): Manifest[string] => ({ network, revision, content: conflist(network, revision), drift });

describe("planConfDir", () => {
  it("creates a network's file where none is, and keeps it once it holds the revision", () => {
    expect(planConfDir({ manifest: {}, files: new Map(), wants: [want("lab", 1)] })).toEqual([
      { kind: "create", network: "lab", file: "50-switchyard-lab.conflist", revision: 1, content: conflist("lab", 1), drift: "restore" },
    ]);
    const f = managedFileName("lab");
    expect(planConfDir({ manifest: { [f]: ours("lab", 1) }, files: new Map([[f, file(conflist("lab", 1), "lab")]]), wants: [want("lab", 1)] })).toEqual([
      { kind: "keep", network: "lab", file: f, revision: 1 },
    ]);
  });

  it("a single-plugin config gets a .conf name (libcni reads a .conflist as a list); a change of kind moves the file", () => {
    const single = `{"cniVersion":"1.0.0","name":"lab","type":"bridge","ipam":{}}`;
    expect(planConfDir({ manifest: {}, files: new Map(), wants: [{ network: "lab", revision: 1, conflist: single, drift: "restore" }] })).toEqual([
      { kind: "create", network: "lab", file: "50-switchyard-lab.conf", revision: 1, content: single, drift: "restore" },
    ]);
    const f = managedFileName("lab", single);
    const moved = planConfDir({ manifest: { [f]: { network: "lab", revision: 1, content: single, drift: "restore" } }, files: new Map([[f, file(single, "lab")]]), wants: [want("lab", 2)] });
    expect(moved.map((a) => [a.kind, a.file])).toEqual([
      ["create", "50-switchyard-lab.conflist"],
      ["remove", "50-switchyard-lab.conf"],
    ]);
  });

  it("updates its own file to a new revision, with the diff between them", () => {
    const f = managedFileName("lab");
    const [action] = planConfDir({ manifest: { [f]: ours("lab", 1) }, files: new Map([[f, file(conflist("lab", 1), "lab")]]), wants: [want("lab", 2)] });
    expect(action).toMatchObject({ kind: "update", revision: 2, fromRevision: 1, content: conflist("lab", 2) });
    expect(action?.kind === "update" && action.diff).toContain('-{"cniVersion":"1.0.0","name":"lab","plugins":[{"type":"bridge","bridge":"br-1"}]}');
  });

  it("never writes over a file it did not write: the managed name taken, or the network defined elsewhere", () => {
    const f = managedFileName("lab");
    // A hand-made file under the name the agent would use.
    expect(planConfDir({ manifest: {}, files: new Map([[f, file("{}", undefined)]]), wants: [want("lab", 1)] })).toEqual([
      { kind: "conflict", network: "lab", file: f, revision: 1, with: [f] },
    ]);
    // Another file (podman's, an operator's) defines the same network name: the agent's is not written beside it.
    expect(planConfDir({ manifest: {}, files: new Map([["10-lab.conflist", file(conflist("lab", 9), "lab")]]), wants: [want("lab", 1)] })).toEqual([
      { kind: "conflict", network: "lab", file: f, revision: 1, with: ["10-lab.conflist"] },
    ]);
  });

  it("a file edited or deleted by hand is drift: restored, or left and reported with its diff", () => {
    const f = managedFileName("lab");
    const edited = new Map([[f, file(conflist("lab", 1).replace("br-1", "br-hand"), "lab")]]);
    const [restore] = planConfDir({ manifest: { [f]: ours("lab", 1) }, files: edited, wants: [want("lab", 1, "restore")] });
    expect(restore).toMatchObject({ kind: "restore", change: "edited", content: conflist("lab", 1) });
    expect(restore?.kind === "restore" && restore.diff).toContain("br-hand");
    const [warn] = planConfDir({ manifest: { [f]: ours("lab", 1, "warn") }, files: edited, wants: [want("lab", 1, "warn")] });
    expect(warn).toMatchObject({ kind: "drifted", change: "edited", revision: 1 });
    const [gone] = planConfDir({ manifest: { [f]: ours("lab", 1, "warn") }, files: new Map(), wants: [want("lab", 2, "warn")] });
    expect(gone).toMatchObject({ kind: "drifted", change: "deleted", revision: 1 });
    expect(gone?.kind === "drifted" && gone.diff).toContain("on the host (deleted)");
  });

  it("after a crash mid-write, either the old or the pending bytes count as the agent's", () => {
    const f = managedFileName("lab");
    const manifest: Manifest = { [f]: { ...ours("lab", 1), pending: { revision: 2, content: conflist("lab", 2) } } };
    expect(planConfDir({ manifest, files: new Map([[f, file(conflist("lab", 2), "lab")]]), wants: [want("lab", 2)] })).toEqual([{ kind: "keep", network: "lab", file: f, revision: 2 }]);
    expect(planConfDir({ manifest, files: new Map([[f, file(conflist("lab", 1), "lab")]]), wants: [want("lab", 2)] })[0]).toMatchObject({ kind: "update" });
    // A first write recorded, the file never made: created, not called drift.
    const first: Manifest = { [f]: { network: "lab", revision: 1, content: null, pending: { revision: 1, content: conflist("lab", 1) }, drift: "warn" } };
    expect(planConfDir({ manifest: first, files: new Map(), wants: [want("lab", 1, "warn")] })[0]).toMatchObject({ kind: "create" });
  });

  it("a network that left the host: its file removed, unless edited by hand under the warn policy", () => {
    const f = managedFileName("lab");
    expect(planConfDir({ manifest: { [f]: ours("lab", 1) }, files: new Map([[f, file(conflist("lab", 1), "lab")]]), wants: [] })).toEqual([{ kind: "remove", network: "lab", file: f, revision: 1 }]);
    expect(planConfDir({ manifest: { [f]: ours("lab", 1) }, files: new Map(), wants: [] })).toEqual([{ kind: "remove", network: "lab", file: f, revision: 1 }]);
    const edited = new Map([[f, file("{}", undefined)]]);
    expect(planConfDir({ manifest: { [f]: ours("lab", 1, "warn") }, files: edited, wants: [] })[0]).toMatchObject({ kind: "left" });
    expect(planConfDir({ manifest: { [f]: ours("lab", 1, "restore") }, files: edited, wants: [] })[0]).toMatchObject({ kind: "remove" });
  });

  it("property: no action writes or removes a file that exists and the manifest does not list", () => {
    const names = fc.constantFrom("lab", "web", "db");
    const fileName = fc.oneof(names.map(managedFileName), fc.constantFrom("10-lab.conflist", "87-podman-bridge.conflist"));
    const content = fc.oneof(fc.tuple(names, fc.integer({ min: 0, max: 3 })).map(([n, r]) => conflist(n, r)), fc.constant("{ hand edited"));
    fc.assert(
      fc.property(
        fc.dictionary(fileName, content, { maxKeys: 5 }),
        fc.dictionary(names.map(managedFileName), fc.record({ revision: fc.integer({ min: 0, max: 3 }), drift: fc.constantFrom("restore" as const, "warn" as const), content: fc.option(content, { nil: null }) }), { maxKeys: 3 }),
        fc.uniqueArray(fc.record({ network: names, revision: fc.integer({ min: 0, max: 3 }), drift: fc.constantFrom("restore" as const, "warn" as const) }), { selector: (w) => w.network, maxLength: 3 }),
        (dir, entries, wanted) => {
          const files = new Map(Object.entries(dir).map(([n, c]) => [n, file(c, /"name":"([a-z]+)"/.exec(c)?.[1])]));
          const manifest: Manifest = Object.fromEntries(Object.entries(entries).map(([n, e]) => [n, { network: n.slice(14, -9), ...e }]));
          const actions = planConfDir({ manifest, files, wants: wanted.map((w) => ({ ...w, conflist: conflist(w.network, w.revision) })) });
          for (const a of actions) {
            if (!["create", "update", "restore", "remove"].includes(a.kind)) continue;
            if (!manifest[a.file]) expect(files.has(a.file), `${a.kind} ${a.file}`).toBe(false);
          }
          // A network defined by a file the agent did not write is never deployed beside it.
          for (const a of actions) {
            if (a.kind !== "create" && a.kind !== "update" && a.kind !== "restore") continue;
            const elsewhere = [...files].some(([n, f]) => n !== a.file && !manifest[n] && f.network === a.network);
            expect(elsewhere).toBe(false);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
