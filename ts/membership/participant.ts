// A member's side of each flush (gms.ts routes PREPARE, CUT and RELEASE
// here): it answers PREPARE with a REPORT (where its stream paused, what it
// holds), applies the CUT and sends DONE once it delivered up to it, and ends
// a barrier flush at the RELEASE (an INSTALL ends any other, in gms.ts). It
// keeps the ballots that order the attempts: the highest it promised (a lower
// PREPARE gets a NACK) and the one whose cut it reached (only that attempt's
// INSTALL may install).
import type { View } from '../message.js'
import type { GmsHost } from './gms.js'
import { compareBallots, type Ballot, type Control, type Holding, type Install } from './messages.js'

/** What a participant needs of its member (Gms): the view it reports from, and what a flush changes there. */
export interface ParticipantGms {
  readonly view: View | null
  readonly founder: string
  readonly installedLast: Install | null
  readonly highestSeen: number
  /** A CUT names the next view's id: seen from now on. */
  sawView(id: number): void
  /** Another coordinator's PREPARE won over ours: a flush we run as the acting coordinator gives way. */
  preempted(): void
}

const ZERO: Ballot = { n: 0, coord: '' }

/**
 * A member's side of one flush attempt (one ballot), phase by phase:
 *   asked     PREPARE came; no REPORT yet (a fragmented message of ours is
 *             still going out, or a joiner does not hear every member yet)
 *   reported  REPORT sent; waiting for the CUT (a PREPARE again resends it,
 *             or, if it said it did not hear everyone, asks anew: 'asked')
 *   atCut     the CUT is applied: delivering up to it; DONE once reached
 *             (doneBallot), then INSTALL, or RELEASE for a barrier
 */
export class ParticipantFlush {
  phase: 'asked' | 'reported' | 'atCut' = 'asked'
  report: Extract<Control, { kind: 'report' }> | null = null

  constructor(readonly ballot: Ballot, readonly members: readonly string[], readonly since: number) {}
}

export class Participant {
  /** The highest ballot we answered: a PREPARE of a lower one gets a NACK. */
  promised: Ballot = ZERO
  /** The attempt whose cut we reached (DONE sent): only its INSTALL may install. */
  doneBallot: Ballot = ZERO
  private lastRelease: Ballot = ZERO
  /** Our part in the attempt under way, while one runs. */
  flush: ParticipantFlush | null = null
  // Members the flush attempt under way leaves out (they no longer hold back
  // our stability). Not sticky: an attempt that never installs may be
  // followed by one that keeps them, if they are heard again.
  private excludedNow = new Set<string>()

  constructor(private readonly host: GmsHost, private readonly gms: ParticipantGms) {}

  onPrepare(p: Extract<Control, { kind: 'prepare' }>): void {
    const me = this.host.me
    const view = this.gms.view
    if (view) {
      const founder = this.gms.founder
      const merged = p.merging.some((r) => r.id === view.id && r.founder === founder)
      if (!merged && p.from.founder !== founder) return // another group's flush
      if (!merged && p.from.id < view.id) {
        // A flush of a view we have left behind: show its coordinator where the group is.
        const last = this.gms.installedLast
        if (last && view.members.includes(p.ballot.coord)) this.host.send(last, p.ballot.coord)
        return
      }
    } else if (!p.members.includes(me)) {
      return
    }
    if (compareBallots(p.ballot, this.promised) < 0) {
      this.host.send({ kind: 'nack', ballot: this.promised }, p.ballot.coord)
      return
    }
    // A PREPARE of a barrier flush already released here (a late or
    // repeated one): taking part again would freeze us for an attempt that
    // is over, and a repeated RELEASE would then deliver a barrier with no
    // cut (forcing our own unplaced total messages ahead of the sequencer's
    // order: the simulator's seed 144 with larger messages).
    if (compareBallots(p.ballot, this.lastRelease) === 0) return
    this.setExcluded(p.excluded.filter((m) => m !== me))
    if (p.ballot.coord !== me) this.gms.preempted() // a higher ballot: yield
    this.promised = p.ballot
    const f = this.flush
    if (f && compareBallots(f.ballot, p.ballot) === 0) {
      if (f.report && !f.report.ready) {
        // Ask again whom we hear.
        f.report = null
        if (f.phase === 'reported') f.phase = 'asked'
      }
      if (f.report) this.host.send(f.report, p.ballot.coord)
      else this.tryReport(f)
      return
    }
    this.flush = new ParticipantFlush(p.ballot, p.members, this.host.now())
    this.tryReport(this.flush)
  }

  /** Every few ms while a flush runs: report if we could not yet; DONE once the cut is reached. */
  tick(): void {
    const f = this.flush
    if (!f) return
    if (!f.report) this.tryReport(f)
    if (f.phase === 'atCut' && this.gms.view && this.host.cutReached() && compareBallots(this.doneBallot, f.ballot) !== 0) {
      this.doneBallot = f.ballot
      this.host.send({ kind: 'done', ballot: f.ballot }, f.ballot.coord)
    }
  }

  private tryReport(f: ParticipantFlush): void {
    let sent = 0
    let held: Record<string, Holding> = {}
    if (this.gms.view) {
      const paused = this.host.pause()
      if (paused === null) return // a fragmented message is still going out: next tick
      sent = paused
      held = this.host.freeze()
    }
    const view = this.gms.view
    const ready = f.members.every((m) => m === this.host.me || this.host.hears(m))
    if (!view && !ready) return // a joiner answers once it hears everyone
    f.report = {
      kind: 'report', ballot: f.ballot, view: view?.id ?? 0, founder: view ? this.gms.founder : '',
      members: view?.members ?? [], seen: this.gms.highestSeen, sent, held, ready, last: this.gms.installedLast,
    }
    if (f.phase === 'asked') f.phase = 'reported'
    this.host.send(f.report, f.ballot.coord)
  }

  onCut(c: Extract<Control, { kind: 'cut' }>): void {
    const f = this.flush
    if (!f || compareBallots(f.ballot, c.ballot) !== 0 || !f.report) return
    // Everyone who reaches this cut has seen the next view's id: a later
    // attempt (if this coordinator dies before everyone installs) picks a higher one.
    this.gms.sawView(c.view)
    if (f.phase !== 'atCut') {
      f.phase = 'atCut'
      const view = this.gms.view
      if (view) this.host.applyCut(c.cut, c.view === view.id)
    }
    if (!this.gms.view || this.host.cutReached()) {
      this.doneBallot = c.ballot
      this.host.send({ kind: 'done', ballot: c.ballot }, c.ballot.coord)
    }
  }

  onRelease(c: Extract<Control, { kind: 'release' }>): void {
    const f = this.flush
    if (f && f.phase === 'atCut' && compareBallots(f.ballot, c.ballot) === 0 && compareBallots(this.doneBallot, c.ballot) === 0) {
      this.flush = null
      this.lastRelease = c.ballot
      this.setExcluded([])
      this.host.release()
    }
    if (compareBallots(this.lastRelease, c.ballot) === 0) this.host.send({ kind: 'installed', ballot: c.ballot }, c.ballot.coord)
  }

  /** The members the current attempt leaves out; the core stops waiting for their acks (and waits again if they are back). */
  setExcluded(members: readonly string[]): void {
    const next = new Set(members)
    for (const m of next) if (!this.excludedNow.has(m)) this.host.exclude(m, true)
    for (const m of this.excludedNow) if (!next.has(m) && this.gms.view?.members.includes(m)) this.host.exclude(m, false)
    this.excludedNow = next
  }

  /** A view is installed: the flush that made it is over, and nobody is left out of it. */
  installed(): void {
    this.flush = null
    this.excludedNow = new Set()
  }
}
