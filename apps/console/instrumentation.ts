export async function register() {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { getDeps, closeDeps } = await import("./src/server/deps");
  // Migrate and bootstrap before the first request, so the secret prints at start.
  await getDeps();
  // With NEXT_MANUAL_SIG_HANDLE=true Next leaves signals to us: open SSE streams
  // would otherwise keep `next start` from exiting.
  let stopping = false;
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      const code = 128 + (signal === "SIGTERM" ? 15 : 2);
      const timer = setTimeout(() => process.exit(code), 5000);
      timer.unref();
      void closeDeps().finally(() => process.exit(code));
    });
  }
}
