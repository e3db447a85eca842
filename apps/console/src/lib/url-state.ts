"use client";

import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useCallback, useMemo } from "react";

/** A value for one query parameter: absent, one value, or several (`?state=a&state=b`). */
export type UrlValue = string | string[] | undefined;

/**
 * A list's filters, sort and search live in the URL, so a reload, a link or the back button
 * brings the same view. Updates replace the history entry (typing must not fill the history).
 */
export function useUrlState() {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const get = useCallback((key: string): string | undefined => params.get(key) ?? undefined, [params]);
  const getAll = useCallback((key: string): string[] => params.getAll(key), [params]);
  const update = useCallback(
    (next: Record<string, UrlValue>) => {
      const merged = new URLSearchParams(params.toString());
      for (const [key, value] of Object.entries(next)) {
        merged.delete(key);
        for (const v of Array.isArray(value) ? value : value ? [value] : []) merged.append(key, v);
      }
      const query = merged.toString();
      router.replace(query ? `${pathname}?${query}` : pathname, { scroll: false });
    },
    [params, router, pathname],
  );
  return useMemo(() => ({ get, getAll, update }), [get, getAll, update]);
}

/** `value` if it is one of `allowed`, else `fallback`: URLs are typed by hand. */
export function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], fallback: T): T {
  return allowed.includes(value as T) ? (value as T) : fallback;
}
