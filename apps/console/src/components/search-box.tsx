"use client";

import { useEffect, useRef, useState } from "react";

/** A search field that reports its text once typing pauses (each report is one server query). */
export function SearchBox({ label, value, onChange, placeholder }: { label: string; value: string; onChange: (text: string) => void; placeholder?: string }) {
  const [text, setText] = useState(value);
  // The latest callback, without restarting the pause on every render of the parent.
  const report = useRef(onChange);
  report.current = onChange;
  // The URL may change under us (back button, a link): follow it.
  useEffect(() => setText(value), [value]);
  useEffect(() => {
    if (text === value) return;
    const timer = setTimeout(() => report.current(text), 300);
    return () => clearTimeout(timer);
  }, [text, value]);
  return (
    <label>
      <span>{label}</span>
      <input type="search" value={text} placeholder={placeholder} onChange={(e) => setText(e.target.value)} maxLength={100} />
    </label>
  );
}
