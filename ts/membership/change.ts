// The acting coordinator's choice of the next view, and what waits for it.
// Every member keeps what waits (gms.ts hands it the JOINs, LEAVEs, EVICTs
// and SUSPECTs that come), since any member may become the acting
// coordinator, and tells the acting one what it knows of (whom it suspects,
// whom to evict, its own leave). The acting one announces its view and, when
// the view must change (a joiner heard, a leave, an eviction, a suspicion, a
// side to merge, a barrier asked for), starts a CoordinatorFlush
// (coordinator.ts) and runs it until it ends: the role's phase is whether
// `flush` is set.
import { CoordinatorFlush } from './coordinator.js'
import type { Gms, GmsConfig, GmsHost } from './gms.js'
import type { Merges } from './merges.js'
import { compareBallots, type Ballot, type Install, type WireView } from './messages.js'
import type { Participant } from './participant.js'

/** The name part of a member id (name#incarnation). */
export function nameOf(member: string): string {
  return member.slice(0, member.lastIndexOf('#'))
}

export class Changes {
  readonly joins = new Map<string, number>() // joiner -> first heard (ms)
  readonly leaves = new Set<string>()
  readonly evicts = new Set<string>() // slow receivers to remove (slowReceiver 'evict')
  private readonly suspectReports = new Map<string, { first: number; last: number }>() // suspected by others
  /** The flush we run as the acting coordinator, while one runs. */
  flush: CoordinatorFlush | null = null
  private ballot = 0 // the highest ballot number we tried, or were told of by a NACK
  private lastAnnounce = -Infinity
  private lastSuspectSent = -Infinity // (a leave goes out at the same pace)
  private lastEvictSent = -Infinity
  // Barriers asked for by sync messages; those asked before our last flush
  // started are done when it ends.
  private barrierRequests = 0
  private barrierAsked = 0
  private barriersDone = 0

  constructor(
    private readonly gms: Gms,
    private readonly host: GmsHost,
    private readonly config: GmsConfig,
    private readonly merges: Merges,
    private readonly participant: Participant,
  ) {}

  /** Another member suspects these members (it reports them to us, in case we are the acting coordinator). */
  suspectsReported(members: readonly string[], now: number): void {
    for (const m of members) {
      const r = this.suspectReports.get(m)
      if (r) r.last = now
      else this.suspectReports.set(m, { first: now, last: now })
    }
  }

  /** Tells the acting coordinator (another member) whom we suspect, whom to evict, and that we leave; once a retry interval. */
  tell(acting: string, now: number): void {
    const view = this.gms.view!
    const me = this.host.me
    const suspects = view.members.filter((m) => m !== me && this.host.suspected(m))
    if (suspects.length && now - this.lastSuspectSent >= this.config.retry) {
      this.lastSuspectSent = now
      this.host.send({ kind: 'suspect', members: suspects }, acting)
    }
    const evicts = [...this.evicts].filter((m) => view.members.includes(m))
    if (evicts.length && now - this.lastEvictSent >= this.config.retry) {
      this.lastEvictSent = now
      this.host.send({ kind: 'evict', members: evicts }, acting)
    }
    if (this.gms.isLeaving(me) && now - this.lastSuspectSent >= this.config.retry) {
      this.lastSuspectSent = now
      this.host.send({ kind: 'leave', member: me }, acting)
    }
  }

  /** A sync message wants a barrier: the coordinator runs one (a flush that keeps the view). */
  requestBarrier(): void {
    this.barrierRequests++ // the next tick starts it (not from inside a delivery)
  }
  /** A sync message waits and no barrier is asked for (it came while another member coordinated): ask. */
  ensureBarrier(): void {
    if (this.barrierRequests <= this.barriersDone) this.barrierRequests = this.barriersDone + 1
  }

  /** A view is installed: what it settles waits no more, and a flush of ours for an older view is over. */
  installed(i: Install): void {
    if (this.flush && !this.flush.made(i)) this.flush = null
    for (const m of i.view.members) {
      this.joins.delete(m)
      this.suspectReports.delete(m)
    }
    for (const m of [...this.leaves]) if (!i.view.members.includes(m)) this.leaves.delete(m)
    for (const m of [...this.evicts]) if (!i.view.members.includes(m)) this.evicts.delete(m)
  }

  /** A NACK: our attempt lost to a higher ballot we had not seen; the next one goes above it. */
  nacked(ballot: Ballot): void {
    if (this.flush && compareBallots(ballot, this.participant.promised) > 0) {
      this.ballot = Math.max(this.ballot, ballot.n)
      this.restart()
    }
  }

  /** The attempt ends; the next one starts from what is known then (suspected members are left out by wantedChange). */
  restart(dropJoiners: readonly string[] = []): void {
    for (const m of dropJoiners) this.joins.delete(m)
    this.flush = null
  }

  /** Our flush is through: every sync seen when it started is delivered. */
  finished(): void {
    this.flush = null
    this.barriersDone = Math.max(this.barriersDone, this.barrierAsked)
  }

  /** The live member of our view that has `joiner`'s name, if any (one suspected, leaving or evicted does not count). */
  nameHolder(joiner: string): string | null {
    const name = nameOf(joiner)
    for (const m of this.gms.view!.members) {
      if (m === joiner || nameOf(m) !== name) continue
      if (this.host.suspected(m) || this.leaves.has(m) || this.evicts.has(m) || this.gms.movedAway(m)) continue
      return m
    }
    return null
  }

  /** At each tick while we are the acting coordinator (or still run a flush): announce our view; run the flush, or see whether one is needed. */
  tick(now: number): void {
    const view = this.gms.view!
    if (now - this.lastAnnounce >= this.config.retry * 5) {
      this.lastAnnounce = now
      this.host.send({ kind: 'announce', view: { id: view.id, members: view.members, founder: this.gms.founder }, partitions: this.config.partitions === 'merge' }, null)
    }
    if (this.flush) {
      this.flush.tick(now)
      return
    }
    const change = this.wantedChange(now)
    if (change) this.startFlush(change.excluded, change.joiners, change.merging)
  }

  /** What must change in the view now, if anything. */
  private wantedChange(now: number): { excluded: string[]; joiners: string[]; merging: WireView[] } | null {
    const view = this.gms.view!
    const me = this.host.me
    const excluded = view.members.filter((m) => {
      if (m === me) return this.gms.isLeaving(me)
      // (A member that went on in another side's view comes back with that side, merged.)
      if (this.leaves.has(m) || this.evicts.has(m) || this.host.suspected(m) || this.gms.movedAway(m)) return true
      // Suspected by another member for long, though we hear it: one of them must go; the reported one does.
      const r = this.suspectReports.get(m)
      if (r && now - r.last > 3 * this.config.retry) this.suspectReports.delete(m) // no longer reported
      else if (r && now - r.first > 2 * this.config.suspectTimeout) return true
      return false
    })
    // Joiners the reliability core hears (so that streams start right), one
    // per name, and none whose name a member keeps.
    const names = new Set(view.members.filter((m) => !excluded.includes(m)).map(nameOf))
    const joiners = [...this.joins.keys()].filter((m) => {
      if (!this.host.hears(m)) return false
      if (names.has(nameOf(m))) return false
      names.add(nameOf(m))
      return true
    })
    const f = this.participant.flush
    // Someone else's flush is under way: let it finish, unless it has stalled
    // for long (its coordinator gave it up without being suspected).
    if (f && f.ballot.coord !== me && !this.host.suspected(f.ballot.coord) && now - f.since < 2 * this.config.suspectTimeout) return null
    // A flush left unfinished (ours, restarted, or one whose coordinator is gone) must still end in a view.
    const stalled = f !== null
    // Other sides we lead a merge with ('merge' mode), still announcing, whose coordinator we hear.
    const merging = this.merges.toMerge(now, (c) => this.host.hears(c), (m) => this.host.suspected(m))
    const barrier = this.barrierRequests > this.barriersDone
    if (!excluded.length && !joiners.length && !stalled && !merging.length && !barrier) return null
    return { excluded, joiners, merging }
  }

  private startFlush(excluded: string[], joiners: string[], merging: WireView[]): void {
    const view = this.gms.view!
    const me = this.host.me
    const leaving = this.gms.isLeaving(me)
    if (this.config.partitions === 'primary') {
      // Leavers take part in the flush, so they count as present; not one
      // that is gone already (it may have handed over in another side's
      // flush: counted on both sides, it made two majorities, seed 2780).
      const present = view.members.filter((m) => !excluded.includes(m) || (this.leaves.has(m) && !this.host.suspected(m)) || (m === me && leaving)).length
      if (present * 2 <= view.members.length) return this.gms.checkMajority()
    }
    const ballot = { n: Math.max(this.participant.promised.n, this.ballot) + 1, coord: me }
    this.ballot = ballot.n
    const own = new Set(view.members)
    const others = merging.flatMap((v) => v.members).filter((m) => !own.has(m) && !this.host.suspected(m))
    const members = [...new Set([...view.members.filter((m) => !excluded.includes(m)), ...others, ...joiners])]
    if (members.length === 0) {
      // Nobody would be left (we leave, everyone else is gone): no view to make.
      if (leaving) this.gms.leaveDone()
      return
    }
    this.participant.setExcluded(excluded.filter((m) => m !== me))
    // Nothing changes but a sync wants its barrier: a flush that keeps the view.
    // (Any other change makes a new view, whose end is a barrier too.)
    const barrier = !excluded.length && !joiners.filter((m) => !own.has(m)).length && !merging.length && this.participant.flush === null
    this.flush = new CoordinatorFlush(this.gms, this.host, this.config, ballot, view, members, excluded, joiners.filter((m) => !own.has(m)), merging, barrier)
    this.barrierAsked = this.barrierRequests
    this.flush.tick(this.host.now())
  }
}
