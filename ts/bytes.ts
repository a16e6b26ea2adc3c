// Byte buffers the library makes: pieces joined (membership/pieces.ts,
// node/direct.ts; messages larger than a datagram of the group's streams are
// put together in the engine, native/assembly.h), and memory of its own that
// is not zero-filled first (every byte is written at once after).

/** `parts` one after the other in one new buffer (`total`: their bytes, if known). */
export function concat(parts: readonly Uint8Array[], total = parts.reduce((n, p) => n + p.length, 0)): Uint8Array {
  const whole = new Uint8Array(total)
  let at = 0
  for (const part of parts) {
    whole.set(part, at)
    at += part.length
  }
  return whole
}

/** `n` bytes of their own (not a slice of Node's pool), not zero-filled: the caller writes them all. */
export function uninitialized(n: number): Uint8Array {
  return new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n)
}
