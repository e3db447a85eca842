import { createCoalescedRunner } from "../coalesce";
import type { Logger } from "../log";
import type { ConfDirDeployer, ConfDirReport } from "./deploy";
import type { DeployWant, PlannedAction } from "./plan";

/** What the console takes of a report (no file contents: the console has them). */
export interface ConfDirReportBody {
  error?: string;
  actions: { kind: PlannedAction["kind"]; network: string; file: string; revision: number; change?: "edited" | "deleted"; diff?: string; with?: string[]; error?: string }[];
}

export function reportBody(report: ConfDirReport): ConfDirReportBody {
  return {
    ...(report.error ? { error: report.error } : {}),
    actions: report.actions.map((a) => ({
      kind: a.kind,
      network: a.network,
      file: a.file,
      revision: a.revision,
      ...("change" in a ? { change: a.change } : {}),
      ...("diff" in a && a.diff ? { diff: a.diff } : {}),
      ...(a.kind === "conflict" ? { with: a.with } : {}),
      ...(a.error ? { error: a.error } : {}),
    })),
  };
}

/**
 * Keeps the conf dir as the console places networks (issue 16): `refresh` fetches this host's
 * deployments and applies them (at start, when the console rings "deploy", after a stream gap);
 * `check` applies the last fetched ones again without asking the console (drift: a file edited or
 * deleted by hand is restored or reported within one check). A report goes to the console only when
 * it says something the last one did not (a host with nothing deployed sends none).
 */
export function createConfDirSync(deps: {
  fetch(): Promise<{ networks: unknown[] }>;
  report(body: ConfDirReportBody): Promise<unknown>;
  deployer: ConfDirDeployer;
  log: Logger;
}) {
  let wants: DeployWant[] | undefined;
  // What the console holds for a host it has heard nothing from: an empty conf dir report need not be sent.
  let lastReported = JSON.stringify({ actions: [] } satisfies ConfDirReportBody);
  let refreshDue = true;

  const runner = createCoalescedRunner(async () => {
    if (refreshDue || wants === undefined) {
      refreshDue = false;
      // Validated by the deployer, which refuses the whole list when one entry is bad.
      wants = (await deps.fetch()).networks as DeployWant[];
    }
    const body = reportBody(await deps.deployer.apply(wants!));
    const text = JSON.stringify(body);
    if (text === lastReported) return;
    await deps.report(body);
    lastReported = text;
  });
  const run = (why: string) =>
    runner.wake().catch((error: unknown) => {
      // The next wake fetches again: what failed may have been the fetch.
      refreshDue = true;
      deps.log.warn(`conf dir: networks not deployed (${why})`, { error: (error as Error).message });
    });

  return {
    /** Fetch this host's deployments again, then apply. */
    refresh(): Promise<void> {
      refreshDue = true;
      return run("refresh");
    },
    /** Apply the last fetched deployments again (drift), fetching first if there are none yet. */
    check(): Promise<void> {
      return run("check");
    },
    idle: () => runner.idle(),
  };
}
export type ConfDirSync = ReturnType<typeof createConfDirSync>;
