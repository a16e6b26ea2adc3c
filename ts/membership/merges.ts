// The merge role ('merge' partitions), sans-IO: the other sides this
// member's side leads a merge with (their coordinators announced views our
// side is larger than, or equal and with a higher coordinator id), while
// they keep announcing, and the views already merged into our line (a late
// announce of one is not a new side). change.ts asks it what a flush must merge;
// coordinator.ts asks whether those sides are still as they were.
import type { ViewRef, WireView } from './messages.js'

/** A side is fresh while its coordinator announced it within this many retry intervals. */
const FRESH_RETRIES = 10

export class Merges {
  private readonly sides = new Map<string, { view: WireView; at: number; since: number }>() // by their coordinator (since: first heard, while fresh)
  private readonly absorbed = new Set<string>() // `founder:id` of views merged into our line

  constructor(private readonly config: { retry: number; suspectTimeout: number }) {}

  /** A side's view was merged into ours already (a late announce of it). */
  absorbedAlready(v: WireView): boolean {
    return this.absorbed.has(`${v.founder}:${v.id}`)
  }

  /** `coordinator`'s side announced `view` and we lead the merge with it. */
  lead(coordinator: string, view: WireView, now: number): void {
    const known = this.sides.get(coordinator)
    const since = known && this.fresh(known.at, now) ? known.since : now
    this.sides.set(coordinator, { view, at: now, since })
  }

  /** A view was installed: sides whose coordinator is in it are merged, and so are the views it names. */
  installed(members: readonly string[], merged: readonly ViewRef[]): void {
    for (const c of [...this.sides.keys()]) if (members.includes(c)) this.sides.delete(c)
    for (const r of merged) this.absorbed.add(`${r.founder}:${r.id}`)
  }

  /**
   * The views a flush should merge now: sides still announcing whose
   * coordinator we hear (stale ones are dropped), once we no longer suspect
   * any of their members, or suspectTimeout after their first announce. (Members of
   * the other side were suspected while apart; a side merged as soon as its
   * coordinator was heard left out its members not heard yet, and they came
   * back as new incarnations instead of through the merge.)
   */
  toMerge(now: number, hears: (member: string) => boolean, suspected: (member: string) => boolean): WireView[] {
    for (const [c, m] of this.sides) if (!this.fresh(m.at, now)) this.sides.delete(c)
    return [...this.sides.entries()]
      .filter(([c, m]) => hears(c) && (now - m.since >= this.config.suspectTimeout || !m.view.members.some(suspected)))
      .map(([, m]) => m.view)
  }

  /** Is member `m` of our view now in another side's view (it went on apart)? */
  movedAway(m: string, now: number): boolean {
    for (const x of this.sides.values()) if (this.fresh(x.at, now) && x.view.members.includes(m)) return true
    return false
  }

  /** Is `v` still announced by a side we lead a merge with? */
  stillAnnounced(v: WireView, now: number): boolean {
    for (const m of this.sides.values()) {
      if (m.view.id === v.id && m.view.founder === v.founder && this.fresh(m.at, now)) return true
    }
    return false
  }

  private fresh(at: number, now: number): boolean {
    return now - at <= FRESH_RETRIES * this.config.retry
  }
}
