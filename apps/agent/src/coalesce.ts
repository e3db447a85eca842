/**
 * One job that runs in passes: a wake while a pass runs asks for one more pass after it, however
 * many wakes came (a burst of pushes costs one extra pass, never one each). `idle` resolves when
 * no pass is running. The services sync and the probe runner both wake this way.
 */
export function createCoalescedRunner(pass: () => Promise<void>): { wake(): Promise<void>; idle(): Promise<void> } {
  let running: Promise<void> | null = null;
  let again = false;
  async function drain(): Promise<void> {
    do {
      again = false;
      await pass();
    } while (again);
  }
  return {
    wake() {
      if (running) {
        again = true;
        return running;
      }
      running = drain().finally(() => (running = null));
      return running;
    },
    idle: () => running ?? Promise.resolve(),
  };
}
