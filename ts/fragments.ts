// Bytes that came in pieces, joined. (Messages larger than one datagram of
// the group's streams are put together in the engine, native/assembly.h; the
// membership protocol's large messages and direct messages come in pieces
// over CONTROL and are joined here: membership/pieces.ts, node/direct.ts.)

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
