import { LRUCache } from "lru-cache";

/**
 * Rate limits per API token (issue 13 §1): a token bucket per token, refilled at `perSecond` up to
 * `burst`. One bucket per token in this console process; each tRPC call in a batch costs one.
 * Buckets live in an LRU bounded by `maxTokens` (a forgotten bucket starts full again: at worst a
 * token long unused gets one extra burst).
 */

export interface TokenRate {
  perSecond: number;
  burst: number;
}

export const DEFAULT_TOKEN_RATE: TokenRate = { perSecond: 20, burst: 40 };

export interface TokenLimiter {
  readonly rate: TokenRate;
  /** Takes `cost` calls from the token's bucket: 0 when allowed, else the seconds until they would be (nothing taken). */
  take(tokenId: string, cost: number): number;
}

export function createTokenLimiter(rate: TokenRate = DEFAULT_TOKEN_RATE, now: () => number = () => performance.now(), maxTokens = 10_000): TokenLimiter {
  if (!(rate.perSecond > 0) || !(rate.burst >= 1)) throw new RangeError(`token rate ${JSON.stringify(rate)} is invalid: perSecond > 0 and burst >= 1`);
  const buckets = new LRUCache<string, { level: number; at: number }>({ max: maxTokens });
  return {
    rate,
    take(tokenId, cost) {
      // A batch larger than the burst could never pass: it costs a full burst.
      const need = Math.min(Math.max(cost, 1), rate.burst);
      const t = now();
      const bucket = buckets.get(tokenId) ?? { level: rate.burst, at: t };
      const level = Math.min(rate.burst, bucket.level + ((t - bucket.at) / 1000) * rate.perSecond);
      if (level < need) {
        buckets.set(tokenId, { level, at: t });
        return (need - level) / rate.perSecond;
      }
      buckets.set(tokenId, { level: level - need, at: t });
      return 0;
    },
  };
}
