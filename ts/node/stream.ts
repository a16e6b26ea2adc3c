// One sender's stream as a member sees it, sans-IO: where delivery is, what
// is held out of order, what a flush's cut asks for, and what is missing of
// it and who holds that (the fetch after a crash). member.ts keeps one per
// member it hears of; order/holdback.ts sees it as a Lane.
import type { CutEntry, Holding } from '../membership/messages.js'
import type { Message } from '../message.js'
import type { Lane } from '../order/policy.js'
import { Queue } from '../order/queue.js'

/** A message held out of order (or for a view not yet installed). */
export interface Rec {
  seq: number
  view: number // the view its sender sent it in
  order: number
  /** FragCode.whole, or (receiver.ts) PIECE / ASSEMBLED: a seq of a message the engine put together. */
  frag: number
  data: Uint8Array
  /** ASSEMBLED: the seq of the message's first fragment (this is its last). */
  first?: number
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
  // nothing beyond it is delivered before the barrier is (FlushCut.apply, node/cut.ts).
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

  /** Sets (or, with null, clears) the cut a flush asks of this stream. */
  setTarget(t: CutEntry | null): void {
    this.target = t
    this.extras = t === null ? null : new Set(t.extras.map((e) => e[0]))
  }

  /**
   * What we hold of this stream without a gap, delivered or not, as a flush
   * reports it: [upTo, ...seqs held beyond]. A message sent in a view after
   * `viewId` ends the run. (A member still holding a barrier's cut holds
   * what those that got its RELEASE sent after it, and may have delivered as
   * safe, the cores all holding it: that counts too.)
   */
  holding(viewId: number): Holding {
    let upTo = this.next - 1
    for (;;) {
      const r = this.held.get(upTo + 1)
      if (r !== undefined ? r.view > viewId : !this.early.has(upTo + 1)) break
      upTo++
    }
    const extras = [...this.early].filter((q) => q > upTo).sort((a, b) => a - b)
    return [upTo, ...extras]
  }

  /** Do we hold all the cut asks of this stream (no cut: yes)? */
  reachedCut(): boolean {
    if (this.target === null) return true
    if (this.next <= this.target.upTo) return false
    for (const q of this.extras!) if (!this.has(q)) return false
    return true
  }

  /** Do we hold all of a pending barrier's cut (no barrier: yes)? */
  reachedBarrier(): boolean {
    if (this.barrier === null) return true
    if (this.next <= this.barrier.upTo) return false
    for (const q of this.barrierExtras!) if (!this.has(q)) return false
    return true
  }

  /** Takes the cut we hold as a barrier's whose RELEASE never came (or, with false, forgets it). */
  keepBarrier(keep: boolean): void {
    this.barrier = keep ? this.target : null
    this.barrierExtras = keep ? this.extras : null
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

/**
 * The streams a member keeps: by the core's peer number (the per-message
 * lookup), by member id and by hex id; the names heard (hex -> member id);
 * and the streams of our view, which are the hold-back's lanes.
 */
export class StreamTable {
  private readonly byPeer: (Stream | undefined)[] = []
  readonly byId = new Map<string, Stream>()
  readonly byHex = new Map<string, Stream>()
  readonly names = new Map<string, string>()
  /** The streams of our view, as of the last install or drop. */
  lanes: Stream[] = []

  at(peer: number): Stream | undefined {
    return this.byPeer[peer]
  }

  /** The core reports `peer` up: its stream (new, or the one we kept), bound to the peer number. */
  up(peer: number, hex: string, name: string): Stream {
    const id = `${name}#${hex}`
    this.names.set(hex, id)
    let s = this.byHex.get(hex)
    if (!s) {
      s = new Stream(id, hex, peer)
      this.byHex.set(hex, s)
      this.byId.set(id, s)
    }
    s.peer = peer
    s.suspected = false
    this.byPeer[peer] = s
    return s
  }

  /** The core forgot `peer` (its number may be reused); the stream stays by id. */
  unbind(peer: number, s: Stream | undefined): void {
    if (this.byPeer[peer] === s) this.byPeer[peer] = undefined
  }

  remove(s: Stream): void {
    this.unbind(s.peer, s)
    this.byHex.delete(s.hex)
    this.byId.delete(s.id)
    if (s.inView) this.updateLanes()
  }

  updateLanes(): void {
    this.lanes = [...this.byId.values()].filter((s) => s.inView)
  }

  /** The streams of our view by sender id: the order every member uses where it must choose alike. */
  sorted(): Stream[] {
    return this.lanes.slice().sort((a, b) => (a.hex < b.hex ? -1 : a.hex > b.hex ? 1 : 0))
  }

  /** The streams of these members that we have. */
  of(members: readonly string[]): Stream[] {
    const out: Stream[] = []
    for (const m of members) {
      const s = this.byId.get(m)
      if (s) out.push(s)
    }
    return out
  }
}
