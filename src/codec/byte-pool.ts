/**
 * Output buffers for the encoders, carved from shared slabs (like Node's `Buffer.allocUnsafe` pool,
 * but browser-safe). A typed array of its own costs an ArrayBuffer object besides the view, and above
 * 64 bytes a separately allocated backing store, which costs about as much as encoding the whole
 * message; a view into a slab is the view alone (about half the bytes of the smallest array of its own,
 * and a quarter faster to make). That matters on the per-request path: every request encodes one.
 *
 *   slab (32 KiB ArrayBuffer)
 *   +--------+----------+-----------------+-----------------------------------+
 *   | msg 1  | msg 2    | msg 3           |  free ...                          |
 *   +--------+----------+-----------------+-----------------------------------+
 *   ^ byteOffset 0      ^ 8-byte aligned starts
 *
 * Consequence for callers: an encoded message's `.buffer` may hold other messages, so send the view
 * (every socket API accepts one) and never transfer or detach `.buffer`.
 */

/** Bytes per slab. */
const SLAB_SIZE = 32 * 1024;
/** Larger outputs get their own buffer (a slab would be mostly wasted on them). */
const MAX_POOLED = 4 * 1024;

let slab = new ArrayBuffer(SLAB_SIZE);
let slabOffset = 0;

/**
 * A writable byte array of exactly `size` bytes, possibly a view into a shared slab. Its contents are
 * unspecified (usually zero): the encoders write every byte.
 */
export function allocateOutput(size: number): Uint8Array {
  if (size > MAX_POOLED) return new Uint8Array(size);
  if (slabOffset + size > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabOffset = 0;
  }
  const out = new Uint8Array(slab, slabOffset, size);
  // Keep the next start 8-byte aligned, as Node's pool does.
  slabOffset = (slabOffset + size + 7) & ~7;
  return out;
}
