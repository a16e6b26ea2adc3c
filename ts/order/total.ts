// Total order: one order of all 'total' and 'safe' messages, the same at
// every member (a safe message also waits until every member holds it).
//
// Senders multicast their messages as usual (the data never travels through
// the sequencer). The sequencer, the view's coordinator, watches the total
// messages it delivers in per-sender FIFO order and multicasts compact ORDER
// records in its own reliable stream: runs of (sender, first seq, last seq)
// in the one order. A member holds each total message until an ORDER record
// places it, and holds a sender's later FIFO messages behind it (FIFO holds
// per sender across the ordered kinds). ORDER records travel in the
// sequencer's stream, so they are as reliable as data, stamped with the view,
// and cut by the flush like anything else: at a view change every member has
// the same records and the same messages, delivers what the records place,
// and then whatever is left in one deterministic order (by sender id, then
// seq) before the next view begins.
import type { Message } from '../message.js'

/** The order code of ORDER records in the sequencer's stream (never delivered to the application). */
export const ORDER_RECORD = 15
const ENTRY = 24 // u64 sender incarnation | f64 first seq | f64 last seq

/** A FIFO queue with O(1) shift (Array.shift is O(n) on long arrays). */
export class Queue<T> {
  private items: (T | undefined)[] = []
  private head = 0
  get length(): number {
    return this.items.length - this.head
  }
  push(x: T): void {
    this.items.push(x)
  }
  peek(): T | undefined {
    return this.items[this.head]
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined
    const x = this.items[this.head]
    this.items[this.head++] = undefined
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return x
  }
}

/** What the total order needs to know of a sender's stream (member.ts's Stream). */
export interface OrderedStream {
  readonly hex: string
  /** Messages of this sender waiting in seq order: total ones not yet placed, and what follows them. */
  readonly waiting: Queue<Message>
  /** Its highest total seq delivered (entries at or below are done). */
  totalDone: number
}

/** Safe messages also wait until every member holds them: may the head go now? */
export type Ready = (s: OrderedStream) => boolean

interface Run {
  hex: string
  first: number
  last: number
}

export class TotalOrder {
  private readonly runs: Run[] = []
  private runHead = 0
  // The sequencer's runs not yet sent.
  private outgoing: Run[] = []

  constructor(private readonly maxRecord: number) {}

  /** Runs placed but not yet delivered. */
  get pending(): number {
    return this.runs.length - this.runHead
  }

  /** The sequencer saw a total message of `hex` delivered in its FIFO order: place it. */
  place(hex: string, seq: number): void {
    const last = this.outgoing[this.outgoing.length - 1]
    if (last && last.hex === hex) {
      last.last = seq
      return
    }
    this.outgoing.push({ hex, first: seq, last: seq })
  }

  /** The ORDER records to send now (each fits `maxRecord` bytes), emptying what was placed. */
  takeRecords(): Uint8Array[] {
    if (this.outgoing.length === 0) return []
    const perRecord = Math.max(1, Math.floor(this.maxRecord / ENTRY))
    const out: Uint8Array[] = []
    for (let i = 0; i < this.outgoing.length; i += perRecord) {
      const runs = this.outgoing.slice(i, i + perRecord)
      const b = new Uint8Array(runs.length * ENTRY)
      const v = new DataView(b.buffer)
      runs.forEach((r, k) => {
        v.setBigUint64(k * ENTRY, BigInt('0x' + r.hex), true)
        v.setFloat64(k * ENTRY + 8, r.first, true)
        v.setFloat64(k * ENTRY + 16, r.last, true)
      })
      out.push(b)
    }
    this.outgoing = []
    return out
  }

  /** An ORDER record arrived (in the sequencer's stream): queue its runs. Malformed records are ignored (false). */
  onRecord(data: Uint8Array): boolean {
    if (data.length === 0 || data.length % ENTRY !== 0) return false
    const v = new DataView(data.buffer, data.byteOffset, data.length)
    for (let at = 0; at < data.length; at += ENTRY) {
      const hex = v.getBigUint64(at, true).toString(16).padStart(16, '0')
      const first = v.getFloat64(at + 8, true), last = v.getFloat64(at + 16, true)
      if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first < 1 || last < first) return false
      this.runs.push({ hex, first, last })
    }
    return true
  }

  /**
   * Delivers what the placed runs allow, in order: a run's messages are
   * delivered once they are at the head of their sender's waiting list
   * (FIFO messages ahead of them go first). Stops at the first run whose
   * message has not arrived.
   */
  drain(streams: (hex: string) => OrderedStream | undefined, deliverHead: (s: OrderedStream) => void, ready: Ready): void {
    while (this.runHead < this.runs.length) {
      const r = this.runs[this.runHead]!
      const s = streams(r.hex)
      if (!s || r.last <= s.totalDone) {
        this.runHead++ // a sender gone from the view, or messages already delivered
        continue
      }
      const head = s.waiting.peek()
      if (head !== undefined && head.seq > r.last) {
        this.runHead++ // this member never gets those (they were before its start)
        continue
      }
      if (head === undefined || (head.order !== 'total' && head.order !== 'safe')) return
      if (head.seq < r.first) return // cannot happen in FIFO; wait rather than misplace
      if (!ready(s)) return // a safe message not yet held by every member
      deliverHead(s)
      if (head.seq === r.last) this.runHead++
    }
    if (this.runHead > 1024 && this.runHead * 2 > this.runs.length) {
      this.runs.splice(0, this.runHead)
      this.runHead = 0
    }
  }

  /** At a view's end (the member has delivered what is left, member.ts finishOrdered): forget the view's runs. */
  reset(): void {
    this.runs.length = 0
    this.runHead = 0
    this.outgoing = []
  }
}
