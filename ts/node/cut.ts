// A flush at one member, at the level of streams, sans-IO: what we hold when
// the flush freezes us (our report), the coordinator's cut set on each
// stream, whether we hold all of it yet and fetching what we miss, and a
// barrier's cut: delivered at its RELEASE, or, when the RELEASE never came,
// settled the way the members that got it did. The membership protocol
// (membership/gms.ts) decides when; member.ts calls these.
import type { CutEntry, Holding } from '../membership/messages.js'
import type { HoldBack } from '../order/holdback.js'
import type { Receiver } from './receiver.js'

export interface CutPort {
  /** Asks member `holderHex` for seqs of `senderHex` it kept (flat [first, last, ...] pairs). */
  fetch(senderHex: string, holderHex: string, ranges: number[]): void
  /** Takes our messages again (a barrier is through). */
  resume(): void
}

export interface CutConfig {
  id: string
  /** Milliseconds between fetches of what we miss. */
  retry: number
}

export class FlushCut {
  private lastFetch = -Infinity

  constructor(
    private readonly receiver: Receiver,
    /** deliverBarrier: what waits at a barrier's cut, in the same order at every member; drain: what that let go. */
    private readonly holdBack: Pick<HoldBack, 'deliverBarrier' | 'drain'>,
    private readonly port: CutPort,
    private readonly config: CutConfig,
    private readonly now: () => number,
  ) {}

  /** The flush stops our delivery: what we hold of each member of the view, for our report. */
  freeze(members: readonly string[], viewId: number): Record<string, Holding> {
    const r = this.receiver
    if (r.phase === 'open') r.phase = 'frozen'
    const held: Record<string, Holding> = {}
    for (const s of r.table.of(members)) held[s.id] = s.holding(viewId)
    return held
  }

  /** The coordinator's cut: deliver exactly up to it, and fetch what we miss of it. */
  apply(members: readonly string[], cut: Readonly<Record<string, CutEntry>>, barrier: boolean): void {
    const r = this.receiver
    const streams = r.table.of(members)
    if (r.phase === 'barrierCut' && !streams.some((s) => s.barrier !== null)) {
      // The cut we hold is a barrier's whose RELEASE never came (its
      // coordinator died or was cut off after sending it to some). Had
      // anyone got it, it delivered the barrier at that cut and sent on, and
      // every survivor had reached the cut. So if this cut holds anything
      // sent after the barrier, we deliver the barrier at its cut first, as
      // they did; if not, nobody did, and its sync messages wait for the
      // view's end like everyone's (HoldBack.finish delivers them alike).
      for (const s of streams) s.keepBarrier(true)
      const beyond = streams.some((s) => s.barrier !== null && cut[s.id] !== undefined && s.beyondBarrier(cut[s.id]!))
      if (!beyond) for (const s of streams) s.keepBarrier(false)
    }
    r.phase = barrier ? 'barrierCut' : 'cut'
    for (const s of streams) {
      s.setTarget(cut[s.id] ?? null)
      r.release(s)
    }
    this.settleBarrier()
    this.lastFetch = -Infinity
    this.fetchMissing(members)
  }

  /** Do we hold everything the cut asks of every member? */
  reached(members: readonly string[]): boolean {
    this.settleBarrier()
    const r = this.receiver
    for (const s of r.table.of(members)) if (!r.skips(s) && !s.reachedCut()) return false
    return true
  }

  /**
   * A barrier flush is through (its RELEASE): every member holds the same
   * messages up to the cut. Deliver them and the barrier's sync messages;
   * then go on in the same view (frozen on a minority side).
   */
  release(frozen: boolean): void {
    const r = this.receiver
    this.holdBack.deliverBarrier(r.table.sorted())
    r.phase = frozen ? 'frozen' : 'open'
    for (const s of r.table.byId.values()) s.setTarget(null)
    this.port.resume()
    r.releaseAll()
    this.holdBack.drain()
  }

  /**
   * A barrier whose RELEASE never reached us (apply): once we hold
   * everything up to its cut, deliver it as the members that got the RELEASE
   * did, then what the later flush's cut adds.
   */
  private settleBarrier(): void {
    const r = this.receiver
    // (Called at every look at the cut: the common case, no barrier pending, costs no sort.)
    if (!r.atCut || !r.table.lanes.some((s) => s.barrier !== null)) return
    const streams = r.table.sorted()
    for (const s of streams) if (!r.skips(s) && !s.reachedBarrier()) return
    this.holdBack.deliverBarrier(streams)
    for (const s of streams) s.keepBarrier(false)
    r.releaseAll()
  }

  /** Asks holders for what we miss of senders that cannot repair it themselves (at most once per retry). */
  fetchMissing(members: readonly string[]): void {
    const now = this.now()
    if (now - this.lastFetch < this.config.retry) return
    this.lastFetch = now
    for (const s of this.receiver.table.of(members)) {
      const t = s.target
      if (!t) continue
      if (s.next !== s.watchedNext) {
        s.watchedNext = s.next
        s.watchedSince = now
      }
      // A live sender repairs its own stream through the core; ask it
      // directly only if that stalls (what the core freed while we were
      // left out of its stability, its member runtime still keeps).
      const senderRepairs = !s.suspected && now - s.watchedSince < 3 * this.config.retry
      // The holder's core sends what it kept of the stream; it arrives as the sender's own datagrams would.
      for (const [holder, ranges] of s.missing(t, this.config.id, senderRepairs)) this.port.fetch(s.hex, holder.slice(-16), ranges)
    }
  }
}
