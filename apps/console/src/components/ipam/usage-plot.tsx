"use client";

import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

/** Leases held hour by hour (uPlot: a canvas plot of a few KB, made for time series). */
export function UsagePlot({ points }: { points: { at: Date | string; leases: number }[] }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const xs = points.map((p) => new Date(p.at).getTime() / 1000);
    const ys = points.map((p) => p.leases);
    const plot = new uPlot(
      {
        width: Math.max(320, Math.min(900, el.clientWidth || 640)),
        height: 160,
        legend: { show: false },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] } },
        series: [{}, { label: "leases", stroke: "#2a6fb0", fill: "rgba(42,111,176,.12)", width: 1.5 }],
        axes: [{}, { size: 48 }],
      },
      [xs, ys],
      el,
    );
    return () => plot.destroy();
  }, [points]);
  const last = points.at(-1)?.leases ?? 0;
  const first = points[0]?.leases ?? 0;
  return (
    <figure style={{ margin: 0 }}>
      <div ref={ref} role="img" aria-label={`Leases held over the last ${points.length} hours: ${first} then, ${last} now`} data-testid="ipam-usage-plot" />
      <figcaption className="muted hint">Leases held, hour by hour, over the last week (from the address history kept).</figcaption>
    </figure>
  );
}
