// One sender's stream as a member sees it, sans-IO: where delivery is, what
// is held out of order, what a flush's cut asks for, and what is missing of
// it and who holds that (the fetch after a crash). member.ts keeps one per
// member it hears of; order/holdback.ts sees it as a Lane.
import type { CutEntry } from '../membership/messages.js'
import type { Message } from '../message.js'
import type { Lane } from '../order/policy.js'
import { Queue } from '../order/queue.js'

/** A message held out of order (or for a view not yet installed). */
export interface Rec {
  seq: number
  view: number // the view its sender sent it in
  order: number
  frag: number
  data: Uint8Array
}

/** Seq ranges asked of one holder in a fetch, at most (more are asked next time). */
const MAX_FETCH_RANGES = 1024

export class Stream implements Lane {
  inView = false
  readonly waiting = new Queue<Message>() // messages waiting for their order (order/holdback.ts)
  stableSeq = 0 // every member holds this sender's stream up to here
  totalDone = 0
  suspected = false
  next = 1 // next seq to deliver in order
  readonly early = new Set<number>() // unordered seqs delivered ahead of `next`
  readonly held = new Map<number, Rec>()
  heldBytes = 0
  target: CutEntry | null = null
  extras: Set<number> | null = null
  // A barrier's cut whose RELEASE never came, while a later flush goes on:
  // nothing beyond it is delivered before the barrier is (Member.applyCut).
  barrier: CutEntry | null = null
  barrierExtras: Set<number> | null = null
  watchedNext = 0 // fetchMissing: `next` when last looked at, and since when
  watchedSince = 0
  constructor(readonly id: string, readonly hex: string, public peer: number) {}
  has(seq: number): boolean {
    return seq < this.next || this.early.has(seq) || this.held.has(seq)
  }
  /** May this seq be delivered under the cut? */
  withinCut(seq: number): boolean {
    if (this.target === null || !(seq <= this.target.upTo || this.extras!.has(seq))) return false
    return this.barrier === null || seq <= this.barrier.upTo || this.barrierExtras!.has(seq)
  }
  /** Does the cut `t` hold a message of ours beyond the barrier's cut? */
  beyondBarrier(t: CutEntry): boolean {
    const b = this.barrier!
    if (t.extras.some(([q]) => q > b.upTo && !this.barrierExtras!.has(q))) return true
    for (let q = b.upTo + 1; q <= t.upTo; q++) if (!this.barrierExtras!.has(q)) return true
    return false
  }

  /**
   * What of this stream the cut `t` needs and we do not hold, by holder, as
   * [first, last, first, last, ...] seq ranges. Nothing is asked of ourselves,
   * nor of the sender itself while it repairs its own stream through the core.
   */
  missing(t: CutEntry, me: string, senderRepairs: boolean): Map<string, number[]> {
    const byHolder = new Map<string, number[]>()
    const want = (holder: string, seq: number) => {
      if (holder === me || (holder === this.id && senderRepairs)) return
      let ranges = byHolder.get(holder)
      if (!ranges) byHolder.set(holder, (ranges = []))
      if (ranges.length && ranges[ranges.length - 1]! + 1 === seq) ranges[ranges.length - 1] = seq
      else if (ranges.length < 2 * MAX_FETCH_RANGES) ranges.push(seq, seq)
    }
    for (let q = this.next; q <= t.upTo; q++) if (!this.held.has(q)) want(t.holder, q)
    for (const [q, holder] of t.extras) if (!this.has(q)) want(holder, q)
    return byHolder
  }
}
