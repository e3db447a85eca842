export async function register() {
  // Node-only start-up lives in its own module so the Edge build never sees it.
  if (process.env.NEXT_RUNTIME === "nodejs") await (await import("./src/server/lifecycle")).startConsole();
}
