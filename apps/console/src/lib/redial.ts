/**
 * How long a tab waits before it opens its live stream again after the stream failed outright
 * (`attempt` failures in a row, from 0). A stream that drops is redialled by the browser's
 * EventSource itself; one answered with anything but 200 (a replica's 429 over its stream cap, a
 * load balancer's 502 while no replica is up, a 503) is not, ever. Half the window fixed, half
 * random, the window doubling from 2 s to at most 60 s: never at once (the cap's Retry-After is
 * 10 s), and the tabs a restart dropped come back spread out.
 */
export function redialDelayMs(attempt: number, random: () => number = Math.random): number {
  const windowMs = Math.min(60_000, 2_000 * 2 ** Math.max(0, Math.min(attempt, 10)));
  return Math.round(windowMs / 2 + random() * (windowMs / 2));
}
