// Reassembly of messages larger than one datagram. The sender splits them into
// fragments with consecutive seqs; the engine delivers each sender's fragments
// in seq order, so a sender has at most one message in reassembly at a time.
import { FragCode } from './boundary.js'

interface Partial {
  seq: number
  parts: Uint8Array[]
  bytes: number
}

export class Reassembly {
  private readonly partial = new Map<number, Partial>()
  /** Messages dropped because they broke the fragment sequence or exceeded maxMessageSize. */
  dropped = 0

  constructor(private readonly maxMessageSize: number) {}

  get pendingBytes(): number {
    let n = 0
    for (const p of this.partial.values()) n += p.bytes
    return n
  }

  /** Returns the whole message (and the seq of its first fragment) once its last fragment arrives. */
  add(peer: number, seq: number, frag: number, data: Uint8Array): { seq: number; data: Uint8Array } | null {
    let p = this.partial.get(peer)
    if (frag === FragCode.first) {
      if (p) this.dropped++
      p = { seq, parts: [data], bytes: data.length }
      this.partial.set(peer, p)
      return null
    }
    if (!p) {
      this.dropped++
      return null
    }
    p.parts.push(data)
    p.bytes += data.length
    if (p.bytes > this.maxMessageSize) {
      this.partial.delete(peer)
      this.dropped++
      return null
    }
    if (frag !== FragCode.last) return null
    this.partial.delete(peer)
    return { seq: p.seq, data: concat(p.parts, p.bytes) }
  }

  forget(peer: number): void {
    this.partial.delete(peer)
  }
}

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
