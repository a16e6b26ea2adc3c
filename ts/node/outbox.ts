// The send path of one member, sans-IO: what the live Group and the
// simulator both run between the application's send() and the engine's
// stream of message records.
//
//   send(data, order) ── frame (causal header, sync prefix) ── order credit? ──► write whole,
//                                                                               or in fragments
//                         └── otherwise, or no room: the send queue (pending) ─► pump() later
//   sendRecord(ORDER)  ──► ahead of queued messages (never inside a fragmented one)
//
// The shell says how a record is written (port.write: the outbound ring live,
// ManualCore.submit in the simulator) and when to try again (port.later,
// port.waitForSpace); the outbox decides what goes and in which order.
import { baseOrder, FragCode, OrderCode } from '../boundary.js'
import { uninitialized } from '../bytes.js'
import { TroupeError } from '../errors.js'

/** What the outbox asks of its shell. */
export interface OutboxPort {
  /** Appends `prefix` (if any) and `data[start, end)` as one message record of our stream; false: no room now (nothing written). */
  write(data: Uint8Array, start: number, end: number, order: number, frag: number, prefix?: Uint8Array): boolean
  /** There was no room for `bytes`: arrange for pump() once there is. True: there is room already. */
  waitForSpace(bytes: number): boolean
  /** Runs `pump` soon, never inside the caller's send() (a microtask live, an event in the simulator). */
  later(pump: () => void): void
  /** The send queue emptied after a send() returned false ('drain'). */
  drained(): void
}

export interface OutboxConfig {
  /** The largest message record (larger messages go in fragments). */
  maxPayload: number
  /** Bytes the send queue may hold; past it send() throws ERR_TROUPE_BACKPRESSURE. */
  maxPending: number
  /** Bytes of our own total and safe messages sent and not yet delivered back (placed) before more wait. */
  orderedLimit: number
}

/**
 * Bytes a message record leaves free of a datagram's payload, so that a
 * fragment also fits a FETCHED control datagram (the holder relays it there).
 */
export const FETCH_ROOM = 128

// A sync message's first byte says what it is: the application's own
// (send(data, { order: 'sync' }), delivered like any message) or the token of
// a barrier (never delivered to the application).
export const SYNC_DATA = 0
export const SYNC_BARRIER = 1
const SYNC_DATA_PREFIX = Uint8Array.of(SYNC_DATA)

// The memory kept for the next queued message (Outbox.spare): at least this
// (smaller ones cost the allocator little), at most this (one large message
// does not hold its memory for good).
const SPARE_MIN = 64 * 1024
const SPARE_MAX = 64 * 1024 * 1024

const CAUSAL = OrderCode.causal
const TOTAL = OrderCode.total
const SAFE = OrderCode.safe
const SYNC = OrderCode.sync
const ORDER_RECORD = OrderCode.record

interface Pending {
  data: Uint8Array // our own copy
  order: number
  offset: number // next byte to write (fragments)
}

export class Outbox {
  private readonly pending: Pending[] = []
  private pendingTotal = 0
  // ORDER records that found no room: they go before any queued message
  // (they never wait for order credit, which our own records may be the ones to free).
  private readonly records: Uint8Array[] = []
  // Bytes of our own total and safe messages sent and not yet delivered here
  // (not yet placed in the one order): at orderedLimit, more wait in `pending`.
  private orderedOut = 0
  private creditWait = false // the head of `pending` waits for order credit
  /** Times a message waited for order credit (its total and safe messages before it not yet placed). */
  creditWaits = 0
  private needDrain = false
  private readonly pumpFn = () => this.pump()
  // The memory of the last large message the queue held, kept for the next
  // to be copied into: a fresh buffer per message faulted in every page it
  // was written to (an 8 MiB message past the ring queued ~4 MiB each time:
  // a fifth of the sender's time went to page faults).
  private spare: ArrayBuffer | null = null

  constructor(
    private readonly port: OutboxPort,
    readonly config: OutboxConfig,
    /** The causal header of our next causal message (order/causal.ts). */
    private readonly causalHeader: () => Uint8Array,
  ) {}

  /** Bytes and messages in the send queue; bytes of ours waiting for their place in the one order. */
  get pendingBytes(): number {
    return this.pendingTotal
  }
  get pendingMessages(): number {
    return this.pending.length
  }
  get orderedBytes(): number {
    return this.orderedOut
  }
  /** Nothing waits in the send queue (what 'drain' tells). */
  get idle(): boolean {
    return this.pending.length === 0
  }
  /** Messages or ORDER records wait for room: pump() when the shell may have some. */
  get waiting(): boolean {
    return this.pending.length > 0 || this.records.length > 0
  }

  /**
   * An application message (any order but ORDER records), after `room`
   * (a room's frame) if given. False: it is queued (not lost) and
   * port.drained() follows once the queue is empty.
   */
  send(data: Uint8Array, order: number, room?: Uint8Array): boolean {
    const base = baseOrder(order) // (a room's message: as its order)
    // The common case: a room's frame (a subject, a transfer's header) and
    // the bytes written into the record one after the other, not joined
    // first; past one record, the frame goes with the first fragment and
    // the rest straight from `data`.
    if (room !== undefined && base !== CAUSAL && base !== SYNC && this.pending.length === 0 && this.orderCredit(room.length + data.length, order)) {
      const max = this.config.maxPayload
      if (room.length + data.length <= max) {
        if (this.port.write(data, 0, data.length, order, FragCode.whole, room)) return this.placing(room.length + data.length, order)
      } else if (room.length < max && this.port.write(data, 0, max - room.length, order, FragCode.first, room)) {
        this.placing(room.length + data.length, order)
        const offset = this.writeFragments(data, order, max - room.length)
        return offset === data.length || this.queue(data, order, offset)
      }
    }
    if (room !== undefined) data = prefixed(room, data)
    // Causal messages carry their dependencies in front (order/causal.ts).
    if (base === CAUSAL) data = prefixed(this.causalHeader(), data)
    else if (base === SYNC) data = prefixed(SYNC_DATA_PREFIX, data)
    return this.sendFramed(data, order)
  }

  /** A barrier's token (its first byte SYNC_BARRIER), sent as a sync message. */
  sendBarrier(token: Uint8Array): boolean {
    return this.sendFramed(token, SYNC)
  }

  private sendFramed(data: Uint8Array, order: number): boolean {
    if (this.pending.length === 0 && this.orderCredit(data.length, order)) {
      const max = this.config.maxPayload
      if (data.length <= max) {
        if (this.port.write(data, 0, data.length, order, FragCode.whole)) return this.placing(data.length, order)
      } else {
        const offset = this.writeFragments(data, order, 0)
        if (offset > 0) this.placing(data.length, order) // (once a first fragment is out: counted once)
        if (offset === data.length) return true
        return this.queue(data, order, offset)
      }
    }
    return this.queue(data, order, 0)
  }

  /**
   * An ORDER record in our stream, ahead of queued messages (between two
   * messages, never inside a fragmented one): it places messages already
   * sent, wherever it goes, and may be what frees the order credit they wait for.
   */
  sendRecord(data: Uint8Array): void {
    if (this.records.length === 0 && (this.pending.length === 0 || this.pending[0]!.offset === 0) &&
      this.port.write(data, 0, data.length, ORDER_RECORD, FragCode.whole)) return
    this.records.push(data.slice())
    if (this.port.waitForSpace(data.length)) this.port.later(this.pumpFn)
  }

  /** One of our own total or safe messages was delivered here: its bytes no longer wait. */
  placed(bytes: number): void {
    this.orderedOut = Math.max(0, this.orderedOut - bytes)
    const head = this.pending[0]
    if (this.creditWait && (head === undefined || this.orderCredit(head.data.length, head.order))) {
      this.creditWait = false
      this.port.later(this.pumpFn)
    }
  }

  /** A new incarnation: our earlier messages never come back to us, so none waits for its place. */
  restart(): void {
    this.orderedOut = 0
    if (this.creditWait) {
      this.creditWait = false
      this.port.later(this.pumpFn)
    }
  }

  /**
   * Moves queued records and messages into the stream while there is room.
   * At a message boundary ORDER records go first; inside a fragmented
   * message its rest goes first (a record never goes between two fragments).
   */
  pump(): void {
    while (this.records.length > 0 || this.pending.length > 0) {
      const p = this.pending[0]
      if (this.records.length > 0 && (p === undefined || p.offset === 0)) {
        const record = this.records[0]!
        if (!this.port.write(record, 0, record.length, ORDER_RECORD, FragCode.whole)) return this.waitForRoom()
        this.records.shift()
        continue
      }
      const m = p!
      const before = m.offset
      if (before === 0 && !this.orderCredit(m.data.length, m.order)) {
        if (!this.creditWait) this.creditWaits++
        this.creditWait = true // placed() pumps again
        return
      }
      if (before === 0 && m.data.length <= this.config.maxPayload) {
        if (!this.port.write(m.data, 0, m.data.length, m.order, FragCode.whole)) return this.waitForRoom()
        m.offset = m.data.length
        this.placing(m.data.length, m.order)
      } else {
        m.offset = this.writeFragments(m.data, m.order, before)
        if (before === 0 && m.offset > 0) this.placing(m.data.length, m.order) // (counted once, with its first fragment)
      }
      this.pendingTotal -= m.offset - before
      if (m.offset < m.data.length) return this.waitForRoom()
      this.pending.shift()
      this.keepSpare(m.data)
    }
    if (this.needDrain) {
      this.needDrain = false
      this.port.drained()
    }
  }

  private waitForRoom(): void {
    if (this.port.waitForSpace(this.config.maxPayload)) this.port.later(this.pumpFn)
  }

  /** Writes fragments from `offset`; returns the offset reached. */
  private writeFragments(data: Uint8Array, order: number, offset: number): number {
    const size = this.config.maxPayload
    while (offset < data.length) {
      const end = Math.min(offset + size, data.length)
      const frag = offset === 0 ? FragCode.first : end === data.length ? FragCode.last : FragCode.middle
      if (!this.port.write(data, offset, end, order, frag)) break
      offset = end
    }
    return offset
  }

  private queue(data: Uint8Array, order: number, offset: number): false {
    const bytes = data.length - offset
    if (this.pendingTotal + bytes > this.config.maxPending) {
      throw new TroupeError(
        'ERR_TROUPE_BACKPRESSURE',
        `send(): the send queue is full (${this.pendingTotal} bytes waiting, maxPending ${this.config.maxPending}): wait for 'drain' when send() returns false`,
      )
    }
    this.pending.push({ data: this.copyOf(data, offset), order, offset })
    this.pendingTotal += bytes
    this.needDrain = true
    // Never pump (and so never say 'drain') inside send(): the caller has
    // not seen `false` yet and could not be waiting for it.
    if (this.port.waitForSpace(Math.min(bytes, this.config.maxPayload))) this.port.later(this.pumpFn)
    return false
  }

  /**
   * Our own copy of `data` from `offset` (the bytes before it, fragments
   * already written, are never read again and not copied: offsets stay the
   * message's), in memory not zero-filled: the spare if it is large enough
   * and the message is large too (a small one would keep it from the next).
   */
  private copyOf(data: Uint8Array, offset: number): Uint8Array {
    const spare = this.spare
    let copy: Uint8Array
    if (spare !== null && data.length >= SPARE_MIN && spare.byteLength >= data.length) {
      copy = new Uint8Array(spare, 0, data.length)
      this.spare = null
    } else {
      copy = uninitialized(data.length)
    }
    copy.set(offset === 0 ? data : data.subarray(offset), offset)
    return copy
  }

  /** A queued message is all written: its memory (ours, from copyOf) may take the next. */
  private keepSpare(data: Uint8Array): void {
    const memory = data.buffer as ArrayBuffer
    if (memory.byteLength < SPARE_MIN || memory.byteLength > SPARE_MAX) return
    if (this.spare === null || this.spare.byteLength < memory.byteLength) this.spare = memory
  }

  /**
   * May a message of `order` go out now? Total and safe ones wait while our
   * own earlier ones, orderedLimit bytes of them, are not yet delivered here
   * (a stalled sequencer holds its senders back instead of filling every
   * member's memory with messages waiting for their place). One always may.
   */
  private orderCredit(bytes: number, order: number): boolean {
    const base = baseOrder(order)
    return (base !== TOTAL && base !== SAFE) || this.orderedOut === 0 || this.orderedOut + bytes <= this.config.orderedLimit
  }

  private placing(bytes: number, order: number): true {
    const base = baseOrder(order)
    if (base === TOTAL || base === SAFE) this.orderedOut += bytes
    return true
  }
}

function prefixed(prefix: Uint8Array, data: Uint8Array): Uint8Array {
  const framed = new Uint8Array(prefix.length + data.length)
  framed.set(prefix)
  framed.set(data, prefix.length)
  return framed
}
