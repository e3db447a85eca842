/**
 * The map's performance marks (issue 11's browser figures, bench/ipam-browser.ts): from the map's
 * data being asked for to its cells painted, once for the first render and once for each zoom.
 * A measure is named `ipam-map:first-render` or `ipam-map:zoom` and spans `<name>:start` → `<name>:end`.
 */
export const MAP_MEASURES = { firstRender: "ipam-map:first-render", zoom: "ipam-map:zoom" } as const;
type MeasureName = (typeof MAP_MEASURES)[keyof typeof MAP_MEASURES];

export interface MapTiming {
  /** The data of `cidr` is asked for now (the map mounts, or the user zooms). */
  start(name: MeasureName, cidr: string): void;
  /** The cells of `cidr` are in the DOM: measured once the browser has painted them. */
  committed(cidr: string): void;
}

export function createMapTiming(): MapTiming {
  let pending: { name: MeasureName; cidr: string } | null = null;
  return {
    start(name, cidr) {
      performance.mark(`${name}:start`);
      pending = { name, cidr };
    },
    committed(cidr) {
      if (pending?.cidr !== cidr) return;
      const { name } = pending;
      pending = null;
      // The frame's paint comes after its animation-frame callbacks: a task queued from one runs after the paint.
      requestAnimationFrame(() =>
        setTimeout(() => {
          performance.mark(`${name}:end`);
          performance.measure(name, `${name}:start`, `${name}:end`);
        }, 0),
      );
    },
  };
}
