// MurmurHash3 (x86, 32-bit), Austin Appleby's public-domain reference, over UTF-8: the key hash of
// the proxy's Maglev tables (consistent hashing on a client address or a header).
const encoder = new TextEncoder();
let scratch = new Uint8Array(256);

/**
 * MurmurHash3 (x86, 32-bit; Austin Appleby's public-domain reference) of the UTF-8 bytes of
 * `text`. Exported for its test vectors: changing it moves every client to another member.
 */
export function murmur3(text: string, seed: number): number {
  if (scratch.length < text.length * 3) scratch = new Uint8Array(text.length * 3);
  const bytes = scratch;
  const length = encoder.encodeInto(text, bytes).written;
  const whole = length & ~3;
  let h = seed >>> 0;
  for (let i = 0; i < whole; i += 4) {
    h ^= scrambleBlock(bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = length & 3;
  if (rest > 0) {
    let k = bytes[whole]!;
    if (rest > 1) k |= bytes[whole + 1]! << 8;
    if (rest > 2) k |= bytes[whole + 2]! << 16;
    h ^= scrambleBlock(k);
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function scrambleBlock(k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, 0x1b873593);
}
