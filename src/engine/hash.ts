// A small content hash with no dependencies (the browser's crypto.subtle is asynchronous and absent on http pages).

/** 64-bit FNV-1a as 16 hex digits (two 32-bit lanes); used for content hashes and cache file names. */
export function fnv1a64(bytes: Uint8Array): string {
  let h1 = 0x811c9dc5;
  let h2 = 0xcbf29ce4;
  for (let i = 0; i < bytes.length; i++) {
    h1 = Math.imul(h1 ^ bytes[i], 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ bytes[i] ^ (h1 >>> 24), 0x01000193) >>> 0;
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}
