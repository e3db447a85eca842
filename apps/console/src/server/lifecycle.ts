import { closeDeps, getDeps } from "./deps";

/** Migrate and bootstrap before the first request (so the secret prints at start), and own shutdown. */
export async function startConsole(): Promise<void> {
  await getDeps();
  // With NEXT_MANUAL_SIG_HANDLE=true Next leaves signals to us: open SSE streams
  // would otherwise keep `next start` from exiting. Bounded: exit after 5 s regardless.
  let stopping = false;
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      const code = 128 + (signal === "SIGTERM" ? 15 : 2);
      setTimeout(() => process.exit(code), 5000).unref();
      void closeDeps().finally(() => process.exit(code));
    });
  }
}
