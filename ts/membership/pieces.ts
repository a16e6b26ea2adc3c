// Membership messages larger than a datagram, in pieces. A REPORT, CUT or
// INSTALL grows with the group (a member id, seqs and holders per member):
// at 1,472-byte datagrams a view of a few dozen members no longer fits one.
// The sender cuts the encoded message into PIECE payloads; the receiver puts
// them together and hands on the whole, as if it had come in one datagram.
//
//   PIECE  24 | u32 message | u16 index | u16 count | bytes
//
// CONTROL is unreliable and so are pieces: a message missing a piece is
// never handed on, and the protocol's retries (which send the whole message
// again, under a new number) make up for it, as they do for a lost datagram.
// Bounded: at most MAX_PIECES pieces a message, PENDING messages being put
// together per sender and PENDING_BYTES in all; the oldest goes first, and
// one not completed within EXPIRE_MS is dropped.

import { concat } from '../bytes.js'

export const PIECE = 24
const HEADER = 9
const MAX_PIECES = 1024
const PENDING = 8
const PENDING_BYTES = 16 << 20
const EXPIRE_MS = 5000

/** Cuts `message` into PIECE payloads of at most `max` bytes each (`id`: this sender's number for it). */
export function cut(message: Uint8Array, max: number, id: number): Uint8Array[] {
  const room = max - HEADER
  const count = Math.ceil(message.length / room)
  if (room < 1 || count > MAX_PIECES) throw new Error(`troupe: a membership message of ${message.length} bytes does not fit ${MAX_PIECES} pieces of ${max} bytes`)
  const out: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    const part = message.subarray(i * room, (i + 1) * room)
    const p = new Uint8Array(HEADER + part.length)
    const v = new DataView(p.buffer)
    p[0] = PIECE
    v.setUint32(1, id >>> 0, true)
    v.setUint16(5, i, true)
    v.setUint16(7, count, true)
    p.set(part, HEADER)
    out.push(p)
  }
  return out
}

interface Pending {
  readonly parts: (Uint8Array | undefined)[]
  have: number
  bytes: number
  readonly since: number
}

/** Puts pieces together, per sender. */
export class Pieces {
  private readonly pending = new Map<string, Pending>() // `${sender}/${message}`, oldest first
  private bytes = 0
  /** Pieces dropped: malformed, inconsistent, or of messages given up on. */
  dropped = 0

  /** A PIECE payload from `sender`: the whole message once its last piece came, else null. */
  add(sender: string, p: Uint8Array, now: number): Uint8Array | null {
    if (p.length <= HEADER || p[0] !== PIECE) {
      this.dropped++
      return null
    }
    const v = new DataView(p.buffer, p.byteOffset, p.length)
    const id = v.getUint32(1, true), index = v.getUint16(5, true), count = v.getUint16(7, true)
    if (count < 2 || count > MAX_PIECES || index >= count) {
      this.dropped++
      return null
    }
    const key = `${sender}/${id}`
    let m = this.pending.get(key)
    if (m === undefined) {
      this.expire(now)
      this.makeRoom(sender)
      m = { parts: new Array(count), have: 0, bytes: 0, since: now }
      this.pending.set(key, m)
    }
    if (m.parts.length !== count) {
      this.dropped++
      return null
    }
    if (m.parts[index] !== undefined) return null // (a duplicate)
    const part = p.slice(HEADER)
    m.parts[index] = part
    m.have++
    m.bytes += part.length
    this.bytes += part.length
    if (m.have < count) {
      if (this.bytes > PENDING_BYTES) this.drop(this.pending.keys().next().value!)
      return null
    }
    this.drop(key, false)
    return concat(m.parts as Uint8Array[], m.bytes)
  }

  /** Messages being put together now (tests). */
  get size(): number {
    return this.pending.size
  }

  private expire(now: number): void {
    for (const [key, m] of this.pending) {
      if (now - m.since <= EXPIRE_MS) break // (oldest first)
      this.drop(key)
    }
  }

  /** At most PENDING of one sender's messages at a time: its oldest goes. */
  private makeRoom(sender: string): void {
    const mine = [...this.pending.keys()].filter((k) => k.startsWith(`${sender}/`))
    if (mine.length >= PENDING) this.drop(mine[0]!)
  }

  private drop(key: string, counted = true): void {
    const m = this.pending.get(key)
    if (!m) return
    this.pending.delete(key)
    this.bytes -= m.bytes
    if (counted) this.dropped += m.have
  }
}
