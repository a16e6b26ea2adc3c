// The JS side of the SPSC rings in native/ring.h (same layout; read that
// header for the diagram and the commit rule). JS produces the outbound ring
// and consumes the inbound ring. Positions are u32 counters that wrap; all
// shared words are read and written with Atomics (sequentially consistent).
import { uninitialized } from './bytes.js'

const HEADER = 512
const TAIL = 0 / 4
const HEAD = 128 / 4
const WAKE = 256 / 4
const BLOCKED = 260 / 4
const PAD = 1

const align8 = (n: number) => (n + 7) & ~7

abstract class RingSide {
  protected readonly ctl: Int32Array
  protected readonly data: Uint8Array
  protected readonly view: DataView
  readonly capacity: number
  protected readonly mask: number

  constructor(memory: ArrayBuffer, offset: number, capacity: number) {
    this.ctl = new Int32Array(memory, offset, HEADER / 4)
    this.data = new Uint8Array(memory, offset + HEADER, capacity)
    this.view = new DataView(memory, offset + HEADER, capacity)
    this.capacity = capacity
    this.mask = capacity - 1
  }
}

/** JS -> C++. Write records, then publish() once per burst. */
export class RingProducer extends RingSide {
  private tail: number
  private head: number

  constructor(memory: ArrayBuffer, offset: number, capacity: number) {
    super(memory, offset, capacity)
    this.tail = Atomics.load(this.ctl, TAIL) >>> 0
    this.head = Atomics.load(this.ctl, HEAD) >>> 0
  }

  /** Largest payload a single record may carry. */
  get maxPayload(): number { return this.capacity / 2 - 8 }

  /**
   * Copies `prefix` (if any) and `src[start, end)` into a new record. Returns
   * false when the ring has no room (nothing is written). Not visible to C++
   * until publish().
   */
  write(type: number, flags: number, src: Uint8Array, start: number, end: number, prefix?: Uint8Array): boolean {
    const before = prefix === undefined ? 0 : prefix.length
    const size = before + end - start
    const length = 8 + size
    const need = align8(length)
    let offset = this.tail & this.mask
    const toEnd = this.capacity - offset
    const total = need <= toEnd ? need : need + toEnd
    if (this.capacity - ((this.tail - this.head) >>> 0) < total) {
      this.head = Atomics.load(this.ctl, HEAD) >>> 0
      if (this.capacity - ((this.tail - this.head) >>> 0) < total) return false
    }
    const v = this.view
    if (need > toEnd) {
      v.setUint32(offset, toEnd, true)
      v.setUint32(offset + 4, PAD, true)
      this.tail = (this.tail + toEnd) >>> 0
      offset = 0
    }
    v.setUint32(offset, length, true)
    v.setUint16(offset + 4, type, true)
    v.setUint16(offset + 6, flags, true)
    if (before > 0) this.data.set(prefix!, offset + 8)
    if (end > start) this.data.set(start === 0 && end === src.length ? src : src.subarray(start, end), offset + 8 + before)
    this.tail = (this.tail + need) >>> 0
    return true
  }

  /** Release: everything written so far becomes visible to C++. */
  publish(): void {
    Atomics.store(this.ctl, TAIL, this.tail | 0)
  }

  /**
   * Tell C++ we wait for space; it wakes us after it consumes. Returns true
   * if space appeared meanwhile (then we need not wait).
   */
  waitForSpace(bytes: number): boolean {
    Atomics.store(this.ctl, BLOCKED, 1)
    this.head = Atomics.load(this.ctl, HEAD) >>> 0
    return this.capacity - ((this.tail - this.head) >>> 0) >= align8(8 + bytes) * 2
  }
}

/**
 * A consumer's other way to take (the engine's, Engine.takeInbound): for
 * batches with records whose bytes lie outside the ring (`referenceType`),
 * which only it can copy, and for large ones. A small batch without them
 * (a round trip's) is copied in JS: the engine's copy, an external
 * ArrayBuffer each, made a 2-member round trip 57 -> 73 µs (p50).
 */
export interface Gather {
  take(maxBytes: number): Uint8Array | null
  referenceType: number
}
/** Past this many bytes published, the engine copies (Gather) without a look for references. */
const GATHER_FROM = 16 << 10

/** A batch of inbound records, copied out of the ring so that views into it stay valid. */
export interface Batch {
  bytes: Uint8Array
  view: DataView
}

/**
 * C++ -> JS. Either take() a copy of what is published (views into it stay
 * valid), or peek() at it in place and release() it once read.
 */
export class RingConsumer extends RingSide {
  private head: number
  private peeked: number // ≥ head: read in place, not yet released
  private readonly span = { start: 0, end: 0 }

  /**
   * `allocate(n)`: where take() copies a batch: n bytes, not zero-filled,
   * its own. `gather`, if given, takes instead where a batch is large or
   * holds references (Gather; the live group's reuses memory past 64 KiB:
   * fresh memory faults in every page).
   */
  constructor(
    memory: ArrayBuffer,
    offset: number,
    capacity: number,
    private readonly allocate: (n: number) => Uint8Array = uninitialized,
    private readonly maxTake = Infinity,
    private readonly gather: Gather | null = null,
  ) {
    super(memory, offset, capacity)
    this.head = this.peeked = Atomics.load(this.ctl, HEAD) >>> 0
  }

  /** Clears the wake flag: a record published after this asks for a new wake-up. */
  armWake(): void {
    Atomics.store(this.ctl, WAKE, 0)
  }

  /**
   * Copies the published records into a fresh buffer (one copy per batch,
   * never per message; at most `maxTake` bytes of whole records, or one
   * record), hands their space back, and returns the copy, or null when the
   * ring is empty.
   */
  take(): Batch | null {
    this.release()
    let tail = Atomics.load(this.ctl, TAIL) >>> 0
    let used = (tail - this.head) >>> 0
    if (used === 0) return null
    const gather = this.gather
    if (gather !== null && (used > GATHER_FROM || this.holdsType(used, gather.referenceType))) {
      const bytes = gather.take(this.maxTake)
      if (bytes === null) return null
      this.head = this.peeked = Atomics.load(this.ctl, HEAD) >>> 0
      return { bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength) }
    }
    if (used > this.maxTake) {
      used = this.wholeRecordsWithin(used)
      tail = (this.head + used) >>> 0
    }
    const start = this.head & this.mask
    // Not zero-filled (every byte is written just below), the batch's alone.
    const bytes = this.allocate(used)
    if (start + used <= this.capacity) {
      bytes.set(this.data.subarray(start, start + used))
    } else {
      const first = this.capacity - start
      bytes.set(this.data.subarray(start, this.capacity))
      bytes.set(this.data.subarray(0, used - first), first)
    }
    this.head = this.peeked = tail
    Atomics.store(this.ctl, HEAD, tail | 0)
    return { bytes, view: new DataView(bytes.buffer) }
  }

  /** Whether a record of `type` is among the `used` bytes from head. */
  private holdsType(used: number, type: number): boolean {
    for (let n = 0; n < used; ) {
      const at = (this.head + n) & this.mask
      if (this.view.getUint16(at + 4, true) === type) return true
      n += align8(this.view.getUint32(at, true))
    }
    return false
  }

  /** How many of the `used` bytes from head are whole records within maxTake (at least one record, past any padding). */
  private wholeRecordsWithin(used: number): number {
    let n = 0
    let records = 0
    while (n < used) {
      const at = (this.head + n) & this.mask
      const next = n + align8(this.view.getUint32(at, true))
      if (next > this.maxTake && records > 0) break
      if (this.view.getUint16(at + 4, true) !== PAD) records++
      n = next
    }
    return n
  }

  /** The ring's bytes, for reading records in place (peek). */
  get bytes(): Uint8Array {
    return this.data
  }
  get dataView(): DataView {
    return this.view
  }

  /**
   * The published records not yet peeked, in place: `bytes[start, end)`
   * (up to the ring's end when they wrap: the rest comes at the next call),
   * or null. Nothing is handed back to C++ until release(): the records stay
   * valid until then.
   */
  peek(): { start: number; end: number } | null {
    const tail = Atomics.load(this.ctl, TAIL) >>> 0
    const used = (tail - this.peeked) >>> 0
    if (used === 0) return null
    const start = this.peeked & this.mask
    const n = Math.min(used, this.capacity - start)
    this.peeked = (this.peeked + n) >>> 0
    this.span.start = start
    this.span.end = start + n
    return this.span
  }

  /** The last `unread` bytes peeked were not read after all: the next peek() (or take()) starts there. */
  unpeek(unread: number): void {
    this.peeked = (this.peeked - unread) >>> 0
  }

  /** Hands everything peeked back to C++. */
  release(): void {
    if (this.head === this.peeked) return
    this.head = this.peeked
    Atomics.store(this.ctl, HEAD, this.head | 0)
  }

  /** True (once) when C++ stopped receiving for lack of space and waits for a kick. */
  takeBlocked(): boolean {
    return Atomics.load(this.ctl, BLOCKED) !== 0 && Atomics.exchange(this.ctl, BLOCKED, 0) !== 0
  }
}

export const RECORD_PAD = PAD
export const RING_HEADER_BYTES = HEADER
