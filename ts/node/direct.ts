// Direct messages: one member to one other, reliable and in order, over the
// CONTROL channel (datagrams to that member's own address, sealed like every
// datagram in a closed group), sans-IO. What is sent in one turn goes out
// together, as many messages a datagram as fit; the receiver hands them on
// in order, holds at most WINDOW ahead of a gap, and acknowledges once per
// turn, cumulatively. The sender keeps what is not acknowledged (at most
// WINDOW per peer; more waits in a queue) and sends it again every `retry`
// ms. A peer that leaves the view is forgotten on both sides. Requests'
// replies use it (rpc/room.ts), so only the asker gets them.
import { DIRECT_HEADER, DIRECT_PART, type Control, type DirectPart } from '../membership/messages.js'

const WINDOW = 256

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

interface Out {
  next: number
  acked: number
  unacked: Map<number, { bytes: Uint8Array; at: number }>
  fresh: number[] // seqs not sent yet
  queue: Uint8Array[] // beyond the window
}

interface In {
  next: number
  held: Map<number, Uint8Array>
  ackDue: boolean
}

export class Direct {
  private readonly out = new Map<string, Out>()
  private readonly in = new Map<string, In>()
  private scheduled = false
  /** Messages sent again; received twice or too far ahead (dropped). */
  resent = 0
  dropped = 0

  constructor(private readonly host: DirectHost) {}

  /** The largest message: one to a datagram. */
  get maxMessage(): number {
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
    if (o.unacked.size >= WINDOW) o.queue.push(bytes.slice())
    else this.admit(o, bytes.slice())
    this.schedule()
  }

  private admit(o: Out, bytes: Uint8Array): void {
    const seq = o.next++
    o.unacked.set(seq, { bytes, at: this.host.now() })
    o.fresh.push(seq)
  }

  /** A DIRECT datagram from `from`. */
  onDirect(from: string, parts: readonly DirectPart[]): void {
    let i = this.in.get(from)
    if (!i) this.in.set(from, (i = { next: 1, held: new Map(), ackDue: false }))
    for (const { seq, bytes } of parts) {
      if (seq < i.next || seq >= i.next + WINDOW || i.held.has(seq)) this.dropped++
      else if (seq > i.next) i.held.set(seq, bytes.slice())
      else {
        i.next++
        this.host.deliver(from, bytes)
        for (let b = i.held.get(i.next); b !== undefined; b = i.held.get(i.next)) {
          i.held.delete(i.next)
          i.next++
          this.host.deliver(from, b)
        }
      }
    }
    i.ackDue = true
    this.schedule()
  }

  onAck(from: string, seq: number): void {
    const o = this.out.get(from)
    if (!o || seq <= o.acked || seq >= o.next) return
    for (let s = o.acked + 1; s <= seq; s++) o.unacked.delete(s)
    o.acked = seq
    if (o.queue.length === 0) return
    while (o.queue.length && o.unacked.size < WINDOW) this.admit(o, o.queue.shift()!)
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
      parts.push({ seq, bytes: u.bytes })
      size += DIRECT_PART + u.bytes.length
    }
    if (parts.length > 0) this.host.send({ kind: 'direct', parts }, to)
  }
}
