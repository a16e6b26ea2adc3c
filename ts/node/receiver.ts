// The member's receive path at the level of seqs, sans-IO: each sender's
// stream, and whether a message the core handed over may go on now (in
// order, in our view, not beyond a flush's cut) or waits (held out of order,
// for a view we have not installed, for the cut, for the group's state).
// What goes on is handed to the hold-back of the order policies
// (order/holdback.ts). member.ts owns it and moves its phase. A message
// larger than a datagram comes put together by the engine (native/
// assembly.h) and stands for all its seqs: the fragments before its last
// take their places here with no bytes (PIECE), the last carries it
// (ASSEMBLED).
import { FragCode, OrderCode, ROOM_BIT } from '../boundary.js'
import type { Install } from '../membership/messages.js'
import type { View } from '../message.js'
import type { HoldBack } from '../order/holdback.js'
import { StreamTable, type Rec, type Stream } from './stream.js'

const UNORDERED = OrderCode.unordered
const FIFO = OrderCode.fifo
const WHOLE = FragCode.whole
// Not on the wire (fragment places are 0..3): the seqs of a message the engine put together.
const PIECE = 8 // a fragment before its last: nothing to deliver
const ASSEMBLED = 9 // its last: the whole message (Rec.first: its first seq)
const ORDER_RECORD = OrderCode.record
const SYSTEM = OrderCode.system
const ROOM_FIFO = FIFO | ROOM_BIT
const SKIPPED = new Uint8Array(0) // the bytes of a message the engine dropped (onSkipped)
const ROOM_UNORDERED = UNORDERED | ROOM_BIT

/**
 * Where delivery is, between views:
 *   open        delivering as messages come (the common case)
 *   frozen      a flush paused us, or we are on a minority side: nothing new
 *               is delivered until the cut is known (or the side heals)
 *   cut         the flush's cut is applied: deliver exactly up to it
 *   barrierCut  the same for a barrier (a flush that keeps the view): at the
 *               cut, its sync messages, then 'open' again (RELEASE)
 * An install or a RELEASE opens it again ('frozen' on a minority side).
 */
export type DeliveryPhase = 'open' | 'frozen' | 'cut' | 'barrierCut'

/** What the receive path needs of the core. */
export interface ReceiverPort {
  exclude(hex: string, excluded: boolean): void
  forget(hex: string): void
  advance(hex: string, seq: number): void
}

/** What the receive path asks of the rest of the member. */
export interface ReceiverHost {
  /** Before our first view: is a flush (our admission) under way? */
  flushing(): boolean
  /** Is this member proposed into the next view? */
  proposed(id: string): boolean
  /** Too much arrived before our first view: start over. */
  overflow(reason: string): void
  /** A message of the system channel (bulk transfers), whole, in its sender's stream order. */
  system(sender: string, data: Uint8Array): void
}

/**
 * Where the common path's messages go when the shell takes them itself
 * (group.ts): fifo or unordered, whole, in order, with nothing of their
 * sender waiting for its order. `bytes[start, end)` is the message; the
 * hold-back, which has nothing to decide for them, is skipped.
 */
export interface FastSink {
  push(sender: string, seq: number, order: number, bytes: Uint8Array, start: number, end: number): void
}

/**
 * Where fifo and unordered room messages may go on the common path, the
 * same way (subjects.ts takes those with a subject; false: not one of them,
 * it goes the usual way): `order` is the application's (0 or 1),
 * `bytes[start, end)` the room's frame; `transient`: the bytes are the
 * ring's, valid only during this batch.
 */
export interface RoomSink {
  take(sender: string, seq: number, order: number, bytes: Uint8Array, start: number, end: number, transient: boolean): boolean
}

export interface ReceiverConfig {
  id: string
  receiveOwn: boolean
  /** Bytes a joiner buffers before its first view. */
  futureBytes: number
}

export class Receiver {
  readonly table = new StreamTable()
  readonly hex: string
  phase: DeliveryPhase = 'open'
  /** Set by the shell while the common path's messages go straight to it. */
  fast: FastSink | null = null
  /** Set by the shell: room messages on the common path (taken only while `fast` is set). */
  subjects: RoomSink | null = null
  /**
   * The bytes handed to onMessage are valid only until the batch ends (the
   * shell reads its ring in place): every message that is kept (held, or
   * not for the fast sink) is copied.
   */
  transient = false
  /** Pulling the group's state as a joiner: nothing is delivered before it is in. */
  awaitingState = false
  /** Messages dropped by the view rules (from non-members, or a joiner's overflow). */
  dropped = 0
  private view: View | null = null
  private viewId = 0 // view?.id ?? 0, set with it: the per-message check reads a number, not an object
  private futureBytes = 0

  constructor(
    private readonly port: ReceiverPort,
    private readonly host: ReceiverHost,
    private readonly holdBack: HoldBack,
    private readonly config: ReceiverConfig,
  ) {
    this.hex = config.id.slice(-16)
  }

  /** A flush's cut is applied (a view change's or a barrier's). */
  get atCut(): boolean {
    return this.phase === 'cut' || this.phase === 'barrierCut'
  }

  /** Is our own stream one whose deliveries we skip (no receiveOwn)? */
  skips(s: Stream): boolean {
    return !this.config.receiveOwn && s.hex === this.hex
  }

  onPeerUp(peer: number, hex: string, name: string): void {
    const s = this.table.up(peer, hex, name)
    // Only members of our view hold back our stability; anyone else (a
    // joiner, an old incarnation) waits until a view has it.
    if (!s.inView && hex !== this.hex) this.port.exclude(hex, true)
  }

  /** A message record: its bytes are `bytes[start, end)`. */
  onMessage(peer: number, seq: number, view: number, order: number, frag: number, bytes: Uint8Array, start: number, end: number): void {
    const s = this.table.at(peer)
    if (s === undefined) {
      this.dropped++
      return
    }
    // The common case, kept cheap: in order, in our view, nothing held
    // (goesNow() and not skips(), written out: the hottest line there is).
    if (seq === s.next && s.inView && view <= this.viewId && this.phase === 'open' && !this.awaitingState && s.held.size === 0 && s.early.size === 0 &&
        (this.config.receiveOwn || s.hex !== this.hex)) {
      s.next++
      const fast = this.fast
      if (fast !== null && frag === WHOLE && s.waiting.length === 0) {
        if (order === FIFO || order === UNORDERED) return fast.push(s.id, seq, order, bytes, start, end)
        if ((order === ROOM_FIFO || order === ROOM_UNORDERED) && this.subjects !== null && this.subjects.take(s.id, seq, order & ~ROOM_BIT, bytes, start, end, this.transient)) return
      }
      this.emit(s, seq, order, frag, this.transient ? bytes.slice(start, end) : bytes.subarray(start, end))
      return
    }
    const data = this.transient ? bytes.slice(start, end) : bytes.subarray(start, end)
    if (this.skips(s)) return this.ownAsSent(s, seq, view, order, frag, data)
    this.accept(s, { seq, view, order, frag, data })
  }

  /** Nothing holds `s` back: a message from its seq `first`, sent in `view`, may go on at once. */
  private goesNow(s: Stream, first: number, view: number): boolean {
    return first === s.next && s.inView && view <= this.viewId && this.phase === 'open' && !this.awaitingState && s.held.size === 0 && s.early.size === 0
  }

  /**
   * Our own messages do not come back, but for those whose order places
   * them among everyone's (total, safe, sync) and the ORDER records we send
   * as the sequencer: the core hands them over as they go out (in order,
   * once, stamped with their view). They take their place here as at the
   * others; the shell does not deliver them.
   */
  private ownAsSent(s: Stream, seq: number, view: number, order: number, frag: number, data: Uint8Array, first = seq): void {
    if (!this.view || view !== this.viewId) this.dropped++
    else if (order !== ORDER_RECORD) this.emit(s, seq, order, frag, data, first)
    else if (!(this.view.coordinator === this.config.id && this.holdBack.onRecord(data))) this.dropped++
  }

  /**
   * A message of fragments first..last, put together by the engine: in the
   * common case it goes on at once and moves the stream past its last seq;
   * otherwise each seq takes its place as its fragment's would have (the
   * message is delivered with its last).
   */
  onAssembled(peer: number, first: number, last: number, view: number, order: number, data: Uint8Array): void {
    const s = this.table.at(peer)
    if (s === undefined) {
      this.dropped++
      return
    }
    if (this.skips(s)) return this.ownAsSent(s, last, view, order, ASSEMBLED, data, first)
    if (this.goesNow(s, first, view)) {
      s.next = last + 1
      this.emit(s, last, order, ASSEMBLED, data, first)
      return
    }
    for (let seq = first; seq < last; seq++) this.accept(s, { seq, view, order, frag: PIECE, data: SKIPPED })
    this.accept(s, { seq: last, view, order, frag: ASSEMBLED, data, first })
  }

  /**
   * Messages first..last of `peer`, sent in `view`, that the engine dropped
   * (no subscription here wants them; fifo or unordered, whole). In the
   * common case they only move the stream on; otherwise each takes its
   * place as a message with no bytes, which the subjects room ignores.
   */
  onSkipped(peer: number, view: number, first: number, last: number): void {
    const s = this.table.at(peer)
    if (s === undefined) {
      this.dropped += last - first + 1
      return
    }
    if (this.goesNow(s, first, view) && s.waiting.length === 0) {
      s.next = last + 1
      return
    }
    for (let seq = first; seq <= last; seq++) this.accept(s, { seq, view, order: ROOM_FIFO, frag: WHOLE, data: SKIPPED })
  }

  /** Every member holds `peer`'s stream up to `seq`: safe messages up to there may go. */
  onStable(peer: number, seq: number): void {
    const s = this.table.at(peer)
    if (s) this.holdBack.onStable(s, seq)
  }

  private accept(s: Stream, r: Rec): void {
    if (s.has(r.seq)) return
    if (!s.inView) {
      // A member proposed into the next view (or, while we join, anyone):
      // its messages wait for the install.
      if (this.view === null ? this.host.flushing() : this.host.proposed(s.id)) this.hold(s, r)
      else this.dropped++
      return
    }
    // Sent in a view we have not installed (yet): never delivered before it.
    if (r.view > this.viewId || ((this.phase !== 'open' || this.awaitingState) && !(this.atCut && s.withinCut(r.seq) && !this.awaitingState))) {
      this.hold(s, r)
      return
    }
    this.deliverInView(s, r)
  }

  private hold(s: Stream, r: Rec): void {
    if (this.view === null) {
      this.futureBytes += r.data.length + 16
      if (this.futureBytes > this.config.futureBytes) {
        this.dropped++
        return this.host.overflow('too much arrived before our first view')
      }
    }
    s.held.set(r.seq, r)
    s.heldBytes += r.data.length + 16
  }

  private deliverInView(s: Stream, r: Rec): void {
    if (r.seq === s.next) {
      this.emit(s, r.seq, r.order, r.frag, r.data, r.first)
      s.next++
      if (s.early.size) while (s.early.delete(s.next)) s.next++
      if (s.held.size) this.release(s)
    } else if (r.order === UNORDERED && r.frag === WHOLE) {
      this.emit(s, r.seq, r.order, r.frag, r.data, r.first)
      s.early.add(r.seq)
    } else {
      this.hold(s, r)
    }
  }

  /** Delivers held messages of `s` that may go now. */
  release(s: Stream): void {
    if (!s.inView || this.awaitingState || this.phase === 'frozen') return
    const cutOnly = this.phase !== 'open'
    const viewId = this.viewId
    for (;;) {
      const r = s.held.get(s.next)
      if (r === undefined || r.view > viewId || (cutOnly && !s.withinCut(r.seq))) break
      this.unhold(s, r)
      this.emit(s, r.seq, r.order, r.frag, r.data, r.first)
      s.next++
      if (s.early.size) while (s.early.delete(s.next)) s.next++
    }
    // Unordered messages that may go ahead of the gap.
    if (s.held.size === 0) return
    for (const r of [...s.held.values()]) {
      if (r.order === UNORDERED && r.frag === WHOLE && r.seq > s.next && r.view <= viewId && (!cutOnly || s.withinCut(r.seq))) {
        this.unhold(s, r)
        this.emit(s, r.seq, r.order, r.frag, r.data, r.first)
        s.early.add(r.seq)
      }
    }
  }

  releaseAll(): void {
    for (const s of this.table.byId.values()) if (s.inView && s.held.size) this.release(s)
  }

  private unhold(s: Stream, r: Rec): void {
    s.held.delete(r.seq)
    s.heldBytes -= r.data.length + 16
  }

  /** A message goes on to its room, the sequencer or the hold-back (`first`..`seq`: its seqs). */
  private emit(s: Stream, seq: number, order: number, frag: number, data: Uint8Array, first = seq): void {
    if (frag === PIECE) return
    if (order === SYSTEM) {
      // The library's own rooms: in stream order, not through the hold-back, never to the application.
      this.host.system(s.id, data)
      return
    }
    if (order === ORDER_RECORD) {
      // Only the sequencer (the view's coordinator) places total messages.
      if (!(this.view && s.id === this.view.coordinator && this.holdBack.onRecord(data))) this.dropped++
      return
    }
    if (!this.holdBack.onMessage(s, order, first, seq, data)) this.dropped++ // malformed, or an order this version does not deliver
  }

  /** Forgets a stream: its sender is gone from the view, or was never one of ours. */
  drop(s: Stream): void {
    this.port.forget(s.hex)
    this.table.remove(s)
  }

  /**
   * The streams as of a new view: a member's stream starts where the install
   * says (older seqs were another view's), streams of members gone end at
   * the cut, and what non-members sent is dropped. Delivery opens again
   * (frozen on a minority side) and held messages of the view go on.
   */
  install(i: Install, view: View, frozen: boolean): void {
    const first = this.view === null
    for (const s of [...this.table.byId.values()]) {
      if (view.members.includes(s.id)) {
        const start = i.starts[s.id] ?? 1
        if (first || !s.inView) {
          // A stream new to us in this view: it starts at `start`; older seqs were another view's.
          s.next = start
          s.totalDone = Math.max(s.totalDone, start - 1) // placements of older messages are not ours to wait for
          for (const q of s.held.keys()) if (q < start) this.unhold(s, s.held.get(q)!)
        } else if (s.next < start) {
          s.next = start // nothing of it was delivered in the old view beyond the cut
        }
        for (const q of s.early) if (q < s.next) s.early.delete(q)
        if (!s.inView && s.hex !== this.hex) this.port.exclude(s.hex, false)
        // Older seqs belong to older views: the core need not wait for them.
        if (s.hex !== this.hex) this.port.advance(s.hex, s.next)
        s.inView = true
        s.setTarget(null)
        s.keepBarrier(false) // (settled: the cut was reached)
      } else if (s.inView) {
        this.drop(s) // gone from the view: its stream ends at the cut
      } else {
        s.held.clear() // not (yet) a member: nothing it sent belongs to this view
        s.heldBytes = 0
      }
    }
    this.table.updateLanes()
    this.view = view
    this.viewId = view.id
    this.phase = frozen ? 'frozen' : 'open'
    this.futureBytes = 0
  }
}
