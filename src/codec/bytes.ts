/** Byte helpers shared by the layers (pure, no allocation). */

/** True when `a` and `b` hold the same bytes (token and ETag comparisons on the per-message path). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const length = a.length;
  if (length !== b.length) return false;
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return false;
  return true;
}
