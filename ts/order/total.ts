// Total order: one order of all 'total' and 'safe' messages, the same at
// every member (safe.ts adds that a safe message also waits until every
// member holds it).
//
// Senders multicast their messages as usual (the data never travels through
// the sequencer). The sequencer, the view's coordinator, watches the total
// messages it receives in per-sender FIFO order and multicasts compact ORDER
// records in its own reliable stream: runs of (sender, first seq, last seq)
// in the one order. A member holds each total message in its sender's lane
// until an ORDER record places it (and the sender's later fifo messages
// behind it). ORDER records travel in the sequencer's stream, so they are as
// reliable as data, stamped with the view, and cut by the flush like
// anything else: at a view change every member has the same records and the
// same messages, delivers what the records place, and then whatever is left
// in one deterministic order (holdback.ts) before the next view begins.
import type { Message } from '../message.js'
import { Arrival, type Lane, type OrderPolicy } from './policy.js'

const ENTRY = 24 // u64 sender incarnation | f64 first seq | f64 last seq

interface Run {
  hex: string
  first: number
  last: number
}

export class TotalOrder implements OrderPolicy {
  readonly order = 'total' as const
  private readonly runs: Run[] = []
  private runHead = 0
  // The sequencer's runs not yet sent.
  private outgoing: Run[] = []
  /** Messages placed as the sequencer, ever (the shell watches it to know it sequences). */
  placements = 0

  constructor(
    private readonly maxRecord: number,
    /** Our view's lane of this sender, if it is in our view. */
    private readonly laneOf: (hex: string) => Lane | undefined,
    /** Are we the sequencer (the view's coordinator)? */
    private readonly sequencing: () => boolean,
  ) {}

  unwrap(_lane: Lane, data: Uint8Array): Uint8Array {
    return data
  }

  onMessage(msg: Message, lane: Lane): Arrival {
    if (this.sequencing()) this.place(lane.hex, msg.seq)
    return Arrival.waits
  }

  /** It is the next one the placed runs name. */
  ready(lane: Lane): boolean {
    return this.nextLane() === lane
  }

  onDelivered(lane: Lane, msg: Message): void {
    lane.totalDone = msg.seq
  }

  /** A new view: its runs start over (the old view's end delivered what they placed). */
  onView(): void {
    this.runs.length = 0
    this.runHead = 0
    this.outgoing = []
  }

  /** The sequencer saw a total message of `hex` arrive in its FIFO order: place it. */
  private place(hex: string, seq: number): void {
    this.placements++
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
   * The lane whose head (a total or safe message) is the next in the one
   * order, or undefined if that message has not arrived (or fifo messages
   * of its sender go first). Runs of senders gone from the view, and runs
   * already delivered or from before this member's start, are passed over.
   */
  nextLane(): Lane | undefined {
    while (this.runHead < this.runs.length) {
      const r = this.runs[this.runHead]!
      const lane = this.laneOf(r.hex)
      if (!lane || r.last <= lane.totalDone) {
        this.runHead++ // a sender gone from the view, or messages already delivered
        continue
      }
      const head = lane.waiting.peek()
      if (head !== undefined && head.seq > r.last) {
        this.runHead++ // this member never gets those (they were before its start)
        continue
      }
      if (head === undefined || (head.order !== 'total' && head.order !== 'safe')) return undefined
      if (head.seq < r.first) return undefined // cannot happen in FIFO; wait rather than misplace
      return lane
    }
    if (this.runHead > 1024 && this.runHead * 2 > this.runs.length) {
      this.runs.splice(0, this.runHead)
      this.runHead = 0
    }
    return undefined
  }
}
