// The spawn helper: a bare node process that starts processes on its parent's behalf, so that
// fork() copies this small process's page tables instead of blocking the (large) parent's event
// loop. Requests and events are JSON messages over the IPC channel; see spawner.ts.
import { runProcess } from "./run-process.mjs";

/** Runs whose stdin waits for the parent's "release" (or "abort"), by id. */
const held = new Map();

process.on("message", (message) => {
  const { id } = message;
  if (message.t === "release" || message.t === "abort") {
    const gate = held.get(id);
    held.delete(id);
    if (message.t === "release") gate?.resolve();
    else gate?.reject(new Error(message.reason));
    return;
  }
  const spec = { ...message.spec };
  if (message.hold) spec.stdinAfter = new Promise((resolve, reject) => held.set(id, { resolve, reject }));
  const send = (event) => {
    if (process.connected) process.send({ id, ...event }, exitIfParentGone);
  };
  void runProcess(spec, {
    onSpawn: () => send({ t: "spawn" }),
    onStderr: (data) => send({ t: "stderr", data }),
  }).then((run) => {
    held.delete(id);
    send({ t: "done", run });
  });
});

// The parent is gone (exited or killed): so is the reason to exist. Running processes keep
// their own process groups, as they would had the parent spawned them itself.
process.on("disconnect", () => process.exit(0));

/**
 * A send can fail before "disconnect" arrives (EPIPE: the parent was killed while a process ran).
 * With a callback Node hands the error here instead of emitting it on `process`, where, unhandled,
 * it printed a stack trace on the terminal the parent shared; the parent is gone either way.
 */
function exitIfParentGone(error) {
  if (error) process.exit(0);
}
