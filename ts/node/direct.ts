// Direct messages: one member to one other, reliable and in order, over the
// CONTROL channel (datagrams to that member's own address, sealed like every
// datagram in a closed group), sans-IO. What is sent in one turn goes out
// together, as many messages a datagram as fit; the receiver hands them on
// in order, holds at most WINDOW ahead of a gap, and acknowledges once per
// turn, cumulatively. The sender keeps what is not acknowledged (at most
// WINDOW per peer; more waits in a queue) and sends it again every `retry`
// ms. A peer that leaves the view is forgotten on both sides. A message
// past one datagram goes as pieces with consecutive seqs (all but the last
// marked `more`), put together by the receiver before it is handed on.
// Requests' replies use it (rpc/room.ts), so only the asker gets them, and
// so do clients' sessions (clients/).
import { concat } from '../bytes.js'
import { DIRECT_HEADER, DIRECT_PART, type Control, type DirectPart } from '../membership/messages.js'

const WINDOW = 256 // pieces
/** The largest message; a receiver puts at most this much together per peer. */
export const MAX_DIRECT_MESSAGE = 1024 * 1024

export interface DirectHost {
  send(c: Control, to: string): void
  deliver(from: string, bytes: Uint8Array): void
  now(): number
  /** Runs `flush` at the end of this turn (once). */
  later(flush: () => void): void
  readonly retry: number
  /** The largest CONTROL payload. */
  readonly maxControl: number
}

interface Piece {
  bytes: Uint8Array
  more: boolean
}

interface Out {
  next: number
  acked: number
  unacked: Map<number, Piece & { at: number }>
  fresh: number[] // seqs not sent yet
  queue: Piece[] // beyond the window
}

interface In {
  next: number
  held: Map<number, Piece>
  ackDue: boolean
  // The leading pieces of the message in the making (null: none), and
  // whether they went past MAX_DIRECT_MESSAGE (then the message is dropped).
  pieces: Uint8Array[] | null
  pieceBytes: number
  tooLarge: boolean
}

export class Direct {
  private readonly out = new Map<string, Out>()
  private readonly in = new Map<string, In>()
  private scheduled = false
  /** Messages sent again; received twice or too far ahead (dropped). */
  resent = 0
  dropped = 0

  constructor(private readonly host: DirectHost) {}

  /** The largest message (past one datagram, in pieces). */
  get maxMessage(): number {
    return MAX_DIRECT_MESSAGE
  }

  /** The most of a message one datagram carries. */
  private get piece(): number {
    return this.host.maxControl - DIRECT_HEADER - DIRECT_PART
  }

  /** Nothing waits for an acknowledgement. */
  get idle(): boolean {
    for (const o of this.out.values()) if (o.unacked.size || o.queue.length) return false
    return true
  }

  /** Sends `bytes` (a copy is kept; at most maxMessage) to `to`, with what else goes to it this turn. */
  send(to: string, bytes: Uint8Array): void {
    let o = this.out.get(to)
    if (!o) this.out.set(to, (o = { next: 1, acked: 0, unacked: new Map(), fresh: [], queue: [] }))
    const piece = this.piece
    for (let at = 0; at === 0 || at < bytes.length; at += piece) {
      const part = bytes.slice(at, at + piece), more = at + piece < bytes.length
      if (o.unacked.size >= WINDOW || o.queue.length) o.queue.push({ bytes: part, more })
      else this.admit(o, part, more)
    }
    this.schedule()
  }

  private admit(o: Out, bytes: Uint8Array, more: boolean): void {
    const seq = o.next++
    o.unacked.set(seq, { bytes, more, at: this.host.now() })
    o.fresh.push(seq)
  }

  /** A DIRECT datagram from `from`. */
  onDirect(from: string, parts: readonly DirectPart[]): void {
    let i = this.in.get(from)
    if (!i) this.in.set(from, (i = { next: 1, held: new Map(), ackDue: false, pieces: null, pieceBytes: 0, tooLarge: false }))
    for (const { seq, bytes, more } of parts) {
      if (seq < i.next || seq >= i.next + WINDOW || i.held.has(seq)) this.dropped++
      else if (seq > i.next) i.held.set(seq, { bytes: bytes.slice(), more: more === true })
      else {
        i.next++
        this.take(from, i, bytes, more === true)
        for (let p = i.held.get(i.next); p !== undefined; p = i.held.get(i.next)) {
          i.held.delete(i.next)
          i.next++
          this.take(from, i, p.bytes, p.more)
        }
      }
    }
    i.ackDue = true
    this.schedule()
  }

  /** The next piece in order from `from`: a whole message is handed on. */
  private take(from: string, i: In, bytes: Uint8Array, more: boolean): void {
    if (!more && i.pieces === null && !i.tooLarge) return this.host.deliver(from, bytes)
    if (!i.tooLarge && i.pieceBytes + bytes.length <= MAX_DIRECT_MESSAGE) {
      ;(i.pieces ??= []).push(bytes.slice())
      i.pieceBytes += bytes.length
    } else {
      i.tooLarge = true
      i.pieces = null
    }
    if (more) return
    const pieces = i.pieces
    const tooLarge = i.tooLarge
    i.pieces = null
    i.pieceBytes = 0
    i.tooLarge = false
    if (tooLarge || pieces === null) {
      this.dropped++
      return
    }
    this.host.deliver(from, concat(pieces))
  }

  onAck(from: string, seq: number): void {
    const o = this.out.get(from)
    if (!o || seq <= o.acked || seq >= o.next) return
    for (let s = o.acked + 1; s <= seq; s++) o.unacked.delete(s)
    o.acked = seq
    if (o.queue.length === 0) return
    while (o.queue.length && o.unacked.size < WINDOW) {
      const p = o.queue.shift()!
      this.admit(o, p.bytes, p.more)
    }
    this.schedule()
  }

  /** Sends again what waited `retry` ms for its acknowledgement. */
  tick(): void {
    const now = this.host.now()
    for (const [to, o] of this.out) {
      const again: number[] = []
      for (const [seq, u] of o.unacked) {
        if (now - u.at < this.host.retry) continue // (fresh ones were stamped at send(), and go this turn)
        u.at = now
        again.push(seq)
      }
      this.resent += again.length
      this.transmit(to, o, again)
    }
  }

  /** Peers not in the view are forgotten (what was on its way to them is dropped). */
  onView(members: readonly string[]): void {
    const here = new Set(members)
    for (const peer of this.out.keys()) if (!here.has(peer)) this.out.delete(peer)
    for (const peer of this.in.keys()) if (!here.has(peer)) this.in.delete(peer)
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    this.host.later(() => this.flush())
  }

  /** The turn's messages, packed, and its acknowledgements. */
  flush(): void {
    this.scheduled = false
    for (const [to, o] of this.out) {
      if (o.fresh.length === 0) continue
      const fresh = o.fresh
      o.fresh = []
      this.transmit(to, o, fresh)
    }
    for (const [from, i] of this.in) {
      if (!i.ackDue) continue
      i.ackDue = false
      this.host.send({ kind: 'directAck', seq: i.next - 1 }, from)
    }
  }

  /** `seqs` of `o` to `to`, as many to a datagram as fit. */
  private transmit(to: string, o: Out, seqs: readonly number[]): void {
    let parts: DirectPart[] = []
    let size = DIRECT_HEADER
    for (const seq of seqs) {
      const u = o.unacked.get(seq)
      if (!u) continue
      if (parts.length > 0 && size + DIRECT_PART + u.bytes.length > this.host.maxControl) {
        this.host.send({ kind: 'direct', parts }, to)
        parts = []
        size = DIRECT_HEADER
      }
      parts.push(u.more ? { seq, bytes: u.bytes, more: true } : { seq, bytes: u.bytes })
      size += DIRECT_PART + u.bytes.length
    }
    if (parts.length > 0) this.host.send({ kind: 'direct', parts }, to)
  }
}
