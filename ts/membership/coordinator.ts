// The acting coordinator's role in one flush (change.ts runs it): PREPARE to
// the next view's members and the leavers, their REPORTs, the CUT, their
// DONEs, then the INSTALL (or, for a barrier, the RELEASE) until every member
// has it. Its phase is explicit: prepare, cut, install.
import type { View } from '../message.js'
import type { Gms, GmsConfig, GmsHost } from './gms.js'
import { compareBallots, type Ballot, type Control, type CutEntry, type Install, type WireView } from './messages.js'

/** One flush run by this member as the acting coordinator. */
export class CoordinatorFlush {
  private phase: 'prepare' | 'cut' | 'install' = 'prepare'
  private readonly reports = new Map<string, Extract<Control, { kind: 'report' }>>()
  private readonly dones = new Set<string>()
  private readonly installed = new Set<string>()
  private cut: Record<string, CutEntry> | null = null
  private nextId = 0
  private install: Install | null = null
  private release: Control | null = null
  private lastSent = -Infinity
  private readonly started: number

  constructor(
    private readonly gms: Gms,
    private readonly host: GmsHost,
    private readonly config: GmsConfig,
    private readonly ballot: Ballot,
    private readonly view: View,
    private readonly members: readonly string[],
    private readonly excluded: readonly string[],
    private readonly joiners: readonly string[],
    private readonly merging: readonly WireView[],
    private readonly barrier: boolean,
  ) {
    this.started = host.now()
    const me = host.me
    this.counted = excluded.filter((m) => m !== me && gms.isLeaving(m) && !host.suspected(m))
  }
  /** Leavers counted as present for the majority (startFlush): should one be gone before the cut, the count is made again. */
  private readonly counted: readonly string[]

  /** The members whose replies we wait for: the next view's, and leavers (they hand over their last messages). */
  private get participants(): string[] {
    const me = this.host.me
    const leaving = this.excluded.filter((m) => this.gms.isLeaving(m) && (m === me || !this.host.suspected(m)))
    return [...this.members, ...leaving]
  }

  /** Does this attempt merge an older view of the side that now announces `v`? */
  mergesStale(v: WireView): boolean {
    return this.merging.some((m) => m.founder === v.founder && m.id !== v.id)
  }

  made(i: Install): boolean {
    return compareBallots(i.ballot, this.ballot) === 0
  }

  onReply(from: string, c: Control): void {
    if (c.kind === 'report' || c.kind === 'done' || c.kind === 'installed') {
      if (compareBallots(c.ballot, this.ballot) !== 0) return
    }
    if (c.kind === 'report' && c.last && this.gms.catchUp(c.last)) {
      // We were behind: the view changed under us. Start again from it.
      this.host.send(c.last, null)
      return this.gms.restart()
    }
    if (c.kind === 'report') {
      this.reports.set(from, c)
      if (this.phase === 'prepare') this.tick(this.host.now(), true)
    } else if (c.kind === 'done') {
      this.dones.add(from)
      if (this.phase === 'cut') this.tick(this.host.now(), true)
    } else if (c.kind === 'installed') {
      this.installed.add(from)
      if (this.phase === 'install') this.tick(this.host.now(), true)
    }
  }

  tick(now: number, progress = false): void {
    // Someone we wait for is suspected: try again without them.
    const lost = [...this.participants, ...this.counted].filter((m) => m !== this.host.me && this.host.suspected(m))
    if (lost.length && this.phase !== 'install') {
      // Members are excluded; joiners are only dropped (they may ask again).
      return this.gms.restart(lost.filter((m) => this.joiners.includes(m)))
    }
    const silentJoiners = this.joiners.filter((m) => !this.reports.has(m) && now - this.started > 2 * this.config.suspectTimeout)
    if (silentJoiners.length && this.phase === 'prepare') return this.gms.restart(silentJoiners)
    // A side to merge that no longer announces that view (it changed, or it is gone), or a
    // member that turns out to be in another side's view: start again.
    if (this.phase === 'prepare' && this.merging.some((v) => !this.gms.mergeFresh(v))) return this.gms.restart()
    if (this.phase === 'prepare' && this.members.some((m) => this.view.members.includes(m) && this.gms.movedAway(m))) return this.gms.restart()
    const resend = !progress && now - this.lastSent >= this.config.retry
    if (this.phase === 'prepare') {
      const waiting = this.participants.filter((m) => !this.reports.get(m)?.ready)
      const behind = this.participants.filter((m) => {
        const r = this.reports.get(m)
        return r !== undefined && r.view < this.view.id && this.view.members.includes(m)
      })
      if (waiting.length === 0 && behind.length === 0) return this.makeCut()
      if (behind.length && resend && this.gms.view) {
        // They missed the install of our view: send it again.
        const last = this.gms.installedLast
        if (last) for (const m of behind) this.host.send(last, m)
      }
      if (resend || this.lastSent === -Infinity) this.sendPrepare(now)
    } else if (this.phase === 'cut') {
      if (this.participants.every((m) => this.dones.has(m))) return this.makeInstall()
      if (resend) this.sendAll(now, { kind: 'cut', ballot: this.ballot, view: this.nextId, cut: this.cut! })
    } else {
      const finale = this.install ?? this.release!
      if (this.lastSent === -Infinity) this.sendAll(now, finale) // it goes out at least once
      const waiting = this.members.filter((m) => !this.installed.has(m) && !this.host.suspected(m))
      if (waiting.length === 0) return this.gms.finished()
      if (resend) this.sendAll(now, finale)
    }
  }

  private sendPrepare(now: number): void {
    this.sendAll(now, {
      kind: 'prepare', ballot: this.ballot, from: { id: this.view.id, founder: this.gms.founder },
      merging: this.merging.map((v) => ({ id: v.id, founder: v.founder })), members: this.members, excluded: this.excluded,
    })
  }

  private sendAll(now: number, c: Control): void {
    this.lastSent = now
    this.host.send(c, null)
    this.gms.deliverLocally(c)
  }

  private makeCut(): void {
    const cut: Record<string, CutEntry> = {}
    // The senders of every old view in the flush (ours, and the merged sides').
    const senders = new Set([...this.view.members, ...this.merging.flatMap((v) => v.members)])
    for (const r of this.reports.values()) for (const m of r.members) senders.add(m)
    for (const s of senders) {
      const own = this.reports.get(s)
      if (own && own.members.includes(s)) {
        cut[s] = { upTo: own.sent, holder: s, extras: [] }
        continue
      }
      // A sender that did not report: the most any member of its view holds.
      let upTo = 0
      let holder = ''
      for (const [m, r] of this.reports) {
        if (!r.members.includes(s)) continue
        const h = r.held[s]
        if (h && h[0]! >= upTo && (holder === '' || h[0]! > upTo)) {
          upTo = h[0]!
          holder = m
        }
      }
      const extras = new Map<number, string>()
      for (const [m, r] of this.reports) {
        const h = r.members.includes(s) ? r.held[s] : undefined
        if (h) for (let i = 1; i < h.length; i++) if (h[i]! > upTo && !extras.has(h[i]!)) extras.set(h[i]!, m)
      }
      if (holder === '') continue // nobody holds anything of it
      cut[s] = { upTo, holder, extras: [...extras].sort((a, b) => a[0] - b[0]) }
    }
    this.cut = cut
    let seen = Math.max(this.gms.highestSeen, this.view.id)
    for (const r of this.reports.values()) seen = Math.max(seen, r.seen, r.view)
    this.nextId = this.barrier ? this.view.id : seen + 1
    this.phase = 'cut'
    this.lastSent = -Infinity
    this.tick(this.host.now())
  }

  private makeInstall(): void {
    if (this.barrier) {
      this.release = { kind: 'release', ballot: this.ballot }
      this.phase = 'install'
      this.lastSent = -Infinity
      return this.tick(this.host.now())
    }
    // Every member that was in an old view goes on with its stream where the cut left it.
    const wasIn = (m: string) => this.view.members.includes(m) || this.merging.some((v) => v.members.includes(m)) || (this.reports.get(m)?.members.includes(m) ?? false)
    const starts: Record<string, number> = {}
    for (const m of this.members) {
      const c = this.cut![m]
      if (wasIn(m)) starts[m] = (c ? c.upTo : 0) + 1
    }
    const old = this.members.filter((m) => this.view.members.includes(m))
    const sides = this.merging.length
      ? [old, ...this.merging.map((v) => this.members.filter((m) => v.members.includes(m) && !old.includes(m)))].filter((side) => side.length > 0)
      : []
    // 'merge' mode: a side that keeps no majority of its view starts a line of
    // its own, so that view ids never name two member lists.
    const minority = this.config.partitions === 'merge' && !this.merging.length && old.length * 2 <= this.view.members.length
    this.install = {
      kind: 'install', ballot: this.ballot,
      view: { id: this.nextId, members: this.members, founder: minority ? `${this.host.me}@${this.nextId}` : this.gms.founder }, starts,
      sides: sides.length > 1 ? sides : [], provider: this.joiners.length && old.length ? old[0]! : '',
      merged: this.merging.map((v) => ({ id: v.id, founder: v.founder })),
    }
    this.phase = 'install'
    this.lastSent = -Infinity
    this.tick(this.host.now())
  }
}
