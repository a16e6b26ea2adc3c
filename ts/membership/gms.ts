// Group membership: agreed views and the flush, as a sans-IO state machine.
// Input: control messages, suspicions from the reliability core, and the
// time (tick). Output: control messages and calls on the host (the member
// runtime, ts/member.ts), which owns the message streams.
//
// Roles are state objects; Gms holds what they share (the view, the last
// install, the highest view id seen, whether we leave or are gone) and routes
// the CONTROL messages and ticks to them:
//   Joining (joining.ts)          until the first view: asks to join, or starts the group
//   Participant (participant.ts)  a member's side of each flush
//   Changes (change.ts)           what waits for the next view; the acting coordinator
//                                 (the oldest member it does not suspect) chooses it
//                                 and runs a CoordinatorFlush (coordinator.ts)
//   Merges (merges.ts)            ('merge' mode) the other sides we lead a merge with
//
// One flush, by the acting coordinator C (ballot b orders attempts):
//
//   C ── PREPARE(b, next members, excluded) ──► all      members pause sending
//   all ── REPORT(b, own last seq, what I hold) ──► C    and stop delivering
//   C ── CUT(b, per sender: deliver up to) ──► all       fetch what you miss
//   all ── DONE(b) ──► C                                 from any holder
//   C ── INSTALL(b, view v+1, where streams start) ──► all   resume sending
//   all ── INSTALLED(b) ──► C                            (a joiner: once it has the state)
//
// Nobody installs v+1 before every member of v+1 reached the cut, so two
// members that install v and v+1 delivered the same messages in v. If C dies
// mid-flush, the next oldest member starts a higher ballot; a member that has
// installed C's last view brings it along in its REPORT (catch-up), so view
// ids never name two different member lists.
import { compareBallots, type Control, type CutEntry, type Holding, type Install, type WireView } from './messages.js'
import type { View } from '../message.js'
import { Changes } from './change.js'
import { Joining } from './joining.js'
import { Merges } from './merges.js'
import { Participant, type ParticipantGms } from './participant.js'

export interface GmsConfig {
  /** Silence after which the reliability core suspects a member (ms). */
  suspectTimeout: number
  /** Retry interval of the protocol's messages (ms). */
  retry: number
  /** How long a joiner listens for an existing group before it starts one (ms). */
  discovery: number
  /** 'primary': only a side with a majority of the last view goes on. 'merge': every side goes on and merges on healing. */
  partitions: 'primary' | 'merge'
}

export interface GmsHost {
  readonly me: string
  now(): number
  send(c: Control, to: string | null): void
  /** Stops our stream at a message boundary: our highest seq, or null while a message is still going out. */
  pause(): number | null
  /** Stops delivering; returns what we hold of every stream of our view. */
  freeze(): Record<string, Holding>
  /** `barrier`: the cut of a barrier flush (the view stays; a RELEASE ends it). */
  applyCut(cut: Readonly<Record<string, CutEntry>>, barrier: boolean): void
  cutReached(): boolean
  /** The new view: streams start where `install.starts` says; sending resumes. */
  install(install: Install, view: View): void
  /** False while a joiner still waits for the state of its first view. */
  hasState(): boolean
  /** The member is (or no longer is) being left out of the view: it does not hold back our stability. */
  exclude(member: string, excluded: boolean): void
  /** The reliability core has heard this member. */
  hears(member: string): boolean
  /** Members the reliability core reports silent (or gone). */
  suspected(member: string): boolean
  /** Every member the reliability core hears now. */
  heard(): string[]
  /** No progress possible (a minority side), or progress again. */
  blocked(blocked: boolean, reason: string): void
  /** We are not in the group's view any more: start over as a new incarnation. */
  excluded(reason: string): void
  /** Our leave completed. */
  left(): void
  /** A barrier flush is through (same view): deliver up to the cut, then the sync messages, resume. */
  release(): void
  /** A joiner: the coordinator does not admit us, since `holder`, a live member, has our name (we keep asking). */
  refused(holder: string): void
}

export class Gms implements ParticipantGms {
  view: View | null = null
  private lastInstall: Install | null = null
  private seen = 0 // highest view id seen anywhere
  private readonly participant: Participant // the member's side of every flush
  private readonly changes: Changes // what waits for the next view; the acting coordinator's choice of it and its flush
  private readonly merges: Merges // ('merge' mode) the other sides we lead a merge with
  // The role before the first view (then null): asks to join, or starts the group.
  private joining: Joining | null
  private isBlocked = false
  private leaving = false
  private gone = false
  private leftAfterInstall = false // a leaving coordinator: once every member has the view without us

  constructor(private readonly host: GmsHost, private readonly config: GmsConfig) {
    this.joining = new Joining(host, config)
    this.participant = new Participant(host, this)
    this.merges = new Merges(config)
    this.changes = new Changes(this, host, config, this.merges, this.participant)
  }

  get me(): string {
    return this.host.me
  }
  get joined(): boolean {
    return this.view !== null
  }
  /** A minority side (partitions 'primary'): nothing new is delivered until a majority is back. */
  get blocked(): boolean {
    return this.isBlocked
  }
  get flushing(): boolean {
    return this.participant.flush !== null
  }
  /** Is `member` in the view the current flush proposes? */
  proposed(member: string): boolean {
    const f = this.participant.flush
    return f !== null && f.members.includes(member)
  }

  /** Starts a graceful leave: we stay until a view without us is installed. */
  leave(): void {
    if (this.gone) return
    this.leaving = true
    if (!this.view) return this.leaveDone()
    this.changes.leaves.add(this.me)
    this.tick()
  }

  /** A slow receiver to remove from the view: the acting coordinator is asked until a view without it is installed. */
  evict(member: string): void {
    if (!this.view?.members.includes(member) || member === this.me) return
    this.changes.evicts.add(member)
    this.tick()
  }

  // ------------------------------------------------------------ input

  onControl(from: string, c: Control): void {
    if (this.gone) return
    switch (c.kind) {
      case 'announce': return this.onAnnounce(from, c.view)
      case 'join':
        if (!this.view) this.joining?.heardJoiner(c.member)
        else if (c.member === from && !this.view.members.includes(c.member)) {
          const holder = this.changes.nameHolder(c.member)
          if (holder !== null) {
            // Names are unique among live members. (A restarted process gets
            // in once its old incarnation is suspected: it keeps asking.)
            if (this.actingCoordinator() === this.me) this.host.send({ kind: 'refuse', member: c.member, holder }, from)
            return
          }
          if (!this.changes.joins.has(c.member)) {
            this.changes.joins.set(c.member, this.host.now())
            this.tick() // a coordinator starts the view change now, not at its next tick
          }
        }
        return
      case 'refuse':
        if (!this.view && c.member === this.me && !this.leaving) this.host.refused(c.holder)
        return
      case 'leave':
        if (c.member === from && this.view?.members.includes(from) && !this.changes.leaves.has(from)) {
          this.changes.leaves.add(from)
          this.tick()
        }
        return
      case 'evict':
        if (!this.view?.members.includes(from)) return
        for (const m of c.members) if (this.view.members.includes(m) && m !== this.me) this.changes.evicts.add(m)
        this.tick()
        return
      case 'suspect': return this.changes.suspectsReported(c.members, this.host.now())
      case 'prepare': return this.participant.onPrepare(c)
      case 'cut': return this.participant.onCut(c)
      case 'install': return this.onInstall(c)
      case 'release': return this.participant.onRelease(c)
      case 'report': case 'done': case 'installed':
        this.changes.flush?.onReply(from, c)
        return
      case 'behind':
        // A member missed the install of our view: send it again.
        if (this.view && c.view < this.view.id && this.lastInstall && this.view.members.includes(from)) this.host.send(this.lastInstall, from)
        return
      case 'nack': return this.changes.nacked(c.ballot)
    }
  }

  /** Call every few ms: retries, timeouts, suspicions. */
  tick(): void {
    if (this.gone) return
    const now = this.host.now()
    if (!this.view) return this.tickJoining()
    this.tickMember(now)
    if (this.gone) return
    // An attempt we run goes on until a higher ballot preempts it, even if an
    // older member is heard again meanwhile (it waits for our attempt).
    if (this.changes.flush || this.actingCoordinator() === this.me) this.changes.tick(now)
  }

  // ------------------------------------------------------------ joining

  private tickJoining(): void {
    if (this.leaving || !this.joining) return
    const f = this.participant.flush
    if (f) {
      // Proposed into a view: answer again if the coordinator asks (onPrepare),
      // unless that flush died with its coordinator.
      if (this.host.now() - f.since < 2 * this.config.suspectTimeout) return
      this.participant.flush = null
    }
    if (!this.joining.tick()) return
    // Nobody answered: we start the group, in a view of our own.
    const view = { id: this.seen + 1, members: [this.me], founder: this.me }
    this.acceptInstall({ kind: 'install', ballot: { n: 0, coord: this.me }, view, starts: {}, sides: [], provider: '', merged: [] })
  }

  // ------------------------------------------------------------ member

  private actingCoordinator(): string | null {
    if (!this.view) return null
    for (const m of this.view.members) {
      if (m === this.me) return m
      // (A member being evicted may be the coordinator: the next one acts.)
      if (!this.host.suspected(m) && !this.changes.evicts.has(m)) return m
    }
    return null
  }

  private tickMember(now: number): void {
    // A flush we take part in: pause, report, reach the cut.
    this.participant.tick()
    // Tell the acting coordinator what we know must change (it decides).
    const acting = this.actingCoordinator()
    if (acting && acting !== this.me) this.changes.tell(acting, now)
    this.checkMajority()
  }

  /** Primary-partition rule: a side that does not hear a majority of the view is blocked. */
  checkMajority(): void {
    if (this.config.partitions !== 'primary' || !this.view) return
    const heard = this.view.members.filter((m) => m === this.me || !this.host.suspected(m)).length
    const blocked = heard * 2 <= this.view.members.length
    if (blocked === this.isBlocked) return
    this.isBlocked = blocked
    this.host.blocked(blocked, blocked ? `hears ${heard} of ${this.view.members.length} members of view ${this.view.id}: not a majority` : 'a majority is back')
  }

  private onInstall(i: Install): void {
    const current = this.view?.id ?? 0
    const mine = this.view
    if (mine && i.view.id > current && !i.view.members.includes(this.me) && !this.leaving && i.view.members.some((m) => mine.members.includes(m))) {
      // The group installed a view without us: we were excluded.
      return this.finish(() => this.host.excluded(`view ${i.view.id} does not have us`))
    }
    if (i.view.id <= current) {
      // Seen already: the coordinator missed our INSTALLED (or we had no state yet).
      if (this.lastInstall && compareBallots(this.lastInstall.ballot, i.ballot) === 0 && this.host.hasState()) this.host.send({ kind: 'installed', ballot: i.ballot }, i.ballot.coord)
      return
    }
    // Only the flush we completed may install: we reached its cut (or, a
    // joiner, we reported to it).
    const f = this.participant.flush
    const ours = compareBallots(this.participant.doneBallot, i.ballot) === 0 || (!this.view && f !== null && compareBallots(f.ballot, i.ballot) === 0)
    if (!ours) return
    this.acceptInstall(i)
    // A joiner answers once it has the state (the coordinator resends the
    // INSTALL until then): until then it cannot reach a later cut, and if its
    // givers died after a later view took it in, that view would lose it too.
    if (!this.gone && this.host.hasState()) this.host.send({ kind: 'installed', ballot: i.ballot }, i.ballot.coord)
  }

  /** A joiner has its state now: answer the install that took it in (without waiting for the coordinator's resend). */
  stateReady(): void {
    const i = this.lastInstall
    if (i && !this.gone && this.view?.id === i.view.id) this.host.send({ kind: 'installed', ballot: i.ballot }, i.ballot.coord)
  }

  /** A sync message wants a barrier: the coordinator runs one (a flush that keeps the view). */
  requestBarrier(): void {
    this.changes.requestBarrier()
  }
  /** A sync message waits and no barrier is asked for (it came while another member coordinated): ask. */
  ensureBarrier(): void {
    this.changes.ensureBarrier()
  }

  private acceptInstall(i: Install): void {
    this.seen = Math.max(this.seen, i.view.id)
    if (!i.view.members.includes(this.me)) {
      // A leaving coordinator first sees its install through (it resends
      // until every member has it); then it is gone.
      if (this.leaving && this.changes.flush?.made(i)) {
        this.leftAfterInstall = true
        return
      }
      if (this.leaving) return this.leaveDone()
      if (!this.view) {
        this.participant.flush = null // a joiner left out of this one: keep asking
        return
      }
      return this.finish(() => this.host.excluded(`view ${i.view.id} does not have us`))
    }
    const view: View = Object.freeze({ id: i.view.id, members: Object.freeze([...i.view.members]), coordinator: i.view.members[0]! })
    this.view = view
    this.joining = null // a member now
    this.lastInstall = i
    this.participant.installed()
    this.changes.installed(i)
    this.merges.installed(i.view.members, i.merged)
    this.host.install(i, view)
    if (this.isBlocked) {
      this.isBlocked = false
      this.host.blocked(false, `view ${view.id} installed`)
    }
  }

  private onAnnounce(from: string, v: WireView): void {
    this.joining?.heardAnnounce()
    this.seen = Math.max(this.seen, v.id)
    if (!this.view) return
    const mine = this.view
    const founder = this.founder
    if (v.members.includes(this.me)) {
      // We missed the install of the view the group is in: ask for it.
      if (v.founder === founder && v.id > mine.id) this.host.send({ kind: 'behind', view: mine.id }, from)
      return
    }
    const sameLine = v.founder === founder
    if (sameLine && v.id < mine.id && mine.members.includes(from) && this.lastInstall) {
      // A member of our view still acts in an older one: it missed our install (and its
      // coordinator is gone, so nobody resends it). It takes the install if it reached that cut.
      this.host.send(this.lastInstall, from)
      return
    }
    if (sameLine && v.id <= mine.id) return // an older view of ours
    if (sameLine && v.members.some((m) => mine.members.includes(m))) {
      // Our line went on without us: we were left out (suspected, or on a minority side).
      return this.finish(() => this.host.excluded(`view ${v.id} goes on without us`))
    }
    // Another side: a group formed apart, or the other side of a partition.
    // The larger side (then the lower coordinator id) leads.
    const theirs: [number, number, string] = [0, v.members.length, from]
    const ours: [number, number, string] = [0, mine.members.length, mine.coordinator]
    if (this.config.partitions === 'merge') {
      if (this.merges.absorbedAlready(v)) return // a late announce of a side already merged into ours
      if (compareKeys(ours, theirs) <= 0) return // they lead
      this.merges.lead(from, v, this.host.now())
      // A merge under way that names an older view of that side cannot finish: start it again.
      if (this.changes.flush?.mergesStale(v)) this.changes.restart()
      return
    }
    // Primary: the side that is behind starts over and joins the other.
    if (compareKeys([v.id, v.members.length, from], [mine.id, mine.members.length, mine.coordinator]) > 0) {
      this.finish(() => this.host.excluded(`view ${v.id} of ${from} goes on without us`))
    }
  }

  private finish(then: () => void): void {
    this.gone = true
    this.changes.flush = null
    this.participant.flush = null
    then()
  }

  // ------------------------------------------------------------ for the roles

  /** Our leave is complete (a view without us is in, or none is left to make): we are gone. */
  leaveDone(): void {
    this.finish(() => this.host.left())
  }

  /** Is member `m` of our view now in another side's view (it went on apart: 'merge' mode)? */
  movedAway(m: string): boolean {
    return this.merges.movedAway(m, this.host.now())
  }

  /** Is `v` still announced by a side we lead a merge with? */
  mergeFresh(v: WireView): boolean {
    return this.merges.stillAnnounced(v, this.host.now())
  }

  /** Called by the CoordinatorFlush: the attempt ends; the next one starts from what is known then (suspected members are left out by wantedChange). */
  restart(dropJoiners: readonly string[] = []): void {
    this.changes.restart(dropJoiners)
  }
  /** A report told the coordinator of an install it missed: catch up (as if it had come to us). */
  catchUp(i: Install): boolean {
    if (i.view.id <= (this.view?.id ?? 0)) return false
    if (compareBallots(this.participant.doneBallot, i.ballot) !== 0) return false
    this.acceptInstall(i)
    return true
  }
  /** The member that started our line of views. */
  get founder(): string {
    return this.lastInstall?.view.founder ?? this.me
  }
  get installedLast(): Install | null {
    return this.lastInstall
  }
  isLeaving(m: string): boolean {
    return m === this.me ? this.leaving : this.changes.leaves.has(m)
  }
  get highestSeen(): number {
    return this.seen
  }
  /** A CUT named view `id` (participant.ts). */
  sawView(id: number): void {
    this.seen = Math.max(this.seen, id)
  }
  /** Another coordinator's higher ballot came (participant.ts): an attempt of ours gives way. */
  preempted(): void {
    this.changes.flush = null
  }
  finished(): void {
    this.changes.finished()
    if (this.leftAfterInstall) this.leaveDone()
  }
  deliverLocally(c: Control): void {
    this.onControl(this.me, c)
  }
}

function compareKeys(a: [number, number, string], b: [number, number, string]): number {
  if (a[0] !== b[0]) return a[0] - b[0]
  if (a[1] !== b[1]) return a[1] - b[1]
  return a[2] < b[2] ? 1 : a[2] > b[2] ? -1 : 0 // the lower coordinator id wins a tie
}
