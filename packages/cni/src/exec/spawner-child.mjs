// The spawn helper: a bare node process that starts processes on its parent's behalf, so that
// fork() copies this small process's page tables instead of blocking the (large) parent's event
// loop. Requests and events are JSON messages over the IPC channel; see spawner.ts.
import { runProcess } from "./run-process.mjs";

process.on("message", (message) => {
  const { id, spec } = message;
  const send = (event) => {
    if (process.connected) process.send({ id, ...event });
  };
  void runProcess(spec, {
    onSpawn: () => send({ t: "spawn" }),
    onStderr: (data) => send({ t: "stderr", data }),
  }).then((run) => send({ t: "done", run }));
});

// The parent is gone (exited or killed): so is the reason to exist. Running processes keep
// their own process groups, as they would had the parent spawned them itself.
process.on("disconnect", () => process.exit(0));
