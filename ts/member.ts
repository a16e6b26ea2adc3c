// One member of a group, above the reliability core: the streams of the
// members it hears, the flush's freeze and cut, fetching and serving missed
// messages, state transfer, reassembly, and handing messages to the hold-back
// of the order policies (order/holdback.ts). It owns no
// socket and no clock: the live Group (group.ts, over the native engine) and
// the simulator (sim/, over ManualCores and a simulated network) drive the
// same code through a CorePort and these entry points:
//
//   onPeerUp / onPeerDown / onMessage / onControl   what the core reported
//   tick()                                          every few ms
//
// The path of a delivered message: onMessage (seq level: duplicates, views,
// freeze, cut) → emit: reassembly → the hold-back's order policy → events.deliver.
import { FragCode, OrderCode } from './boundary.js'
import { Reassembly } from './fragments.js'
import { StateGiver, StateTaker, type StateHost } from './node/state.js'
import { Stream, type Rec } from './node/stream.js'
import { Gms, type GmsConfig, type GmsHost } from './membership/gms.js'
import { decodeControl, encodeControl, type Control, type CutEntry, type Holding, type Install } from './membership/messages.js'
import type { Message, View } from './message.js'
import { HoldBack } from './order/holdback.js'

/** What a member needs of its reliability core. Member ids in calls are 16 hex digits. */
export interface CorePort {
  /** Sends a CONTROL payload, unicast to `to` if the core knows it, else multicast. */
  control(payload: Uint8Array, to: string | null): boolean
  /** Stops taking our messages at a message boundary: our highest seq, or -1 while a message is still going out. */
  pause(): number
  resume(): void
  /** The member does not (or, with false, does again) hold back our stability. */
  exclude(hex: string, excluded: boolean): void
  forget(hex: string): void
  /** Stamps our messages with this view id from now on. */
  setView(view: number): void
  /** The member's messages before `seq` belong to older views: the core's receive window moves on. */
  advance(hex: string, seq: number): void
  /** Asks member `holderHex` for seqs of `senderHex` it kept (flat [first, last, ...] pairs). */
  fetch(senderHex: string, holderHex: string, ranges: number[]): void
  /** Sends an ORDER record (order/total.ts) in our own stream, after what we sent so far. */
  sendOrder(record: Uint8Array): void
}

export interface MemberEvents {
  deliver(msg: Message): void
  view(view: View, previous: View | null): void
  /** In the first view, with the group's state (if state transfer is on): a joiner is ready. */
  ready(): void
  blocked(blocked: boolean, reason: string): void
  /** A view that merges sides that went on apart (partitions: 'merge'): the members of each side. */
  merge(view: View, sides: string[][]): void
  /** Not in the group's view any more: the shell starts over as a new incarnation. */
  excluded(reason: string): void
  left(): void
  /** Joining: the group does not admit us while `holder`, a live member, has our name (we keep asking). */
  refused?(holder: string): void
}

export interface MemberConfig extends GmsConfig {
  /** This member's id, name#16 hex digits. */
  id: string
  /** Largest CONTROL payload (datagram size minus header). */
  maxControl: number
  /** Bytes a joiner buffers before its first view (beyond: it starts over). */
  futureBytes: number
  maxMessageSize: number
  /** Largest record in our stream (an ORDER record must fit one). */
  maxRecord: number
  receiveOwn: boolean
  getState?: (() => Uint8Array) | undefined
  setState?: ((state: Uint8Array) => void) | undefined
}

const UNORDERED = OrderCode.unordered
const WHOLE = FragCode.whole
const ORDER_RECORD = OrderCode.record

/**
 * Where the member's delivery is, between views:
 *   open        delivering as messages come (the common case)
 *   frozen      a flush paused us, or we are on a minority side: nothing new
 *               is delivered until the cut is known (or the side heals)
 *   cut         the flush's cut is applied: deliver exactly up to it
 *   barrierCut  the same for a barrier (a flush that keeps the view): at the
 *               cut, its sync messages, then 'open' again (RELEASE)
 * An install or a RELEASE opens it again ('frozen' on a minority side).
 */
type DeliveryPhase = 'open' | 'frozen' | 'cut' | 'barrierCut'

export class Member {
  readonly id: string
  readonly hex: string
  readonly gms: Gms
  private readonly streams: (Stream | undefined)[] = []
  private readonly byId = new Map<string, Stream>()
  private readonly byHex = new Map<string, Stream>()
  private readonly names = new Map<string, string>() // hex -> member id
  private readonly reassembly: Reassembly
  private readonly holdBack: HoldBack
  private view: View | null = null
  private viewId = 0 // view?.id ?? 0, set with it in install(): the per-message check reads a number, not an object
  private phase: DeliveryPhase = 'open'
  private lastFetch = -Infinity
  private futureBytes = 0
  private stateIn: StateTaker | null = null // a joiner pulling the state
  private readonly stateOut: StateGiver
  private readonly local: [string, Control][] = []
  private inLocal = false
  private nowMs = 0
  /** CONTROL payloads dropped: malformed, or from a sender we cannot name. */
  controlRejected = 0
  /** The causal header for a message we send now (order/causal.ts). */
  causalHeader(): Uint8Array {
    return this.holdBack.causal.header()
  }
  /** Messages dropped by the view rules (from non-members, or a joiner's overflow). */
  messagesDropped = 0
  /** Total and safe messages placed as the sequencer, ever (the shell watches it). */
  get placements(): number {
    return this.holdBack.total.placements
  }
  /** Messages waiting for their order. */
  get heldBack(): number {
    return this.holdBack.held
  }

  constructor(private readonly port: CorePort, private readonly events: MemberEvents, private readonly config: MemberConfig, nowMs: number) {
    this.id = config.id
    this.hex = config.id.slice(-16)
    this.nowMs = nowMs
    this.stateOut = new StateGiver(this.stateHost())
    this.reassembly = new Reassembly(config.maxMessageSize)
    this.holdBack = new HoldBack({
      deliver: (msg) => events.deliver(msg),
      laneOf: (hex) => {
        const s = this.byHex.get(hex)
        return s?.inView ? s : undefined
      },
      lanes: () => this.viewLanes,
      coordinating: () => this.view !== null && this.view.coordinator === this.id,
      frozen: () => this.phase !== 'open',
      wantBarrier: () => this.gms.requestBarrier(),
    }, config)
    this.gms = new Gms(this.host(), config)
  }

  /** A flush's cut is applied (a view change's or a barrier's). */
  private get atCut(): boolean {
    return this.phase === 'cut' || this.phase === 'barrierCut'
  }

  get currentView(): View | null {
    return this.view
  }
  get flushing(): boolean {
    return this.gms.flushing
  }
  get joined(): boolean {
    return this.view !== null
  }
  get reassemblyBytes(): number {
    return this.reassembly.pendingBytes
  }
  get reassemblyDropped(): number {
    return this.reassembly.dropped
  }

  setNow(nowMs: number): void {
    this.nowMs = nowMs
  }

  // ------------------------------------------------------------ input from the core

  onPeerUp(peer: number, hex: string, name: string): void {
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
    this.streams[peer] = s
    // Only members of our view hold back our stability; anyone else (a
    // joiner, an old incarnation) waits until a view has it.
    if (!s.inView && hex !== this.hex) this.port.exclude(hex, true)
  }

  onPeerDown(peer: number, hex: string, reason: 'left' | 'silent' | 'forgotten'): void {
    const s = this.byHex.get(hex)
    if (reason === 'forgotten') {
      if (this.streams[peer] === s) this.streams[peer] = undefined
      return
    }
    if (!s) return
    s.suspected = true
    // Not one of ours (a joiner that went away, an old incarnation): drop it.
    if (!s.inView && !this.isProposed(s.id)) this.drop(s)
    this.pump()
  }

  onMessage(peer: number, seq: number, view: number, order: number, frag: number, data: Uint8Array): void {
    const s = this.streams[peer]
    if (s === undefined) {
      this.messagesDropped++
      return
    }
    if (!this.config.receiveOwn && s.hex === this.hex) {
      // Our own messages do not come back, but for those whose order places
      // them among everyone's (total, safe, sync) and the ORDER records we
      // send as the sequencer: the core hands them over as they go out (in
      // order, once, stamped with their view). They take their place here as
      // at the others; the shell does not deliver them.
      if (!this.view || view !== this.view.id) this.messagesDropped++
      else if (order !== ORDER_RECORD) this.emit(s, seq, order, frag, data)
      else if (!(this.view.coordinator === this.id && this.holdBack.onRecord(data))) this.messagesDropped++
      return
    }
    // The common case, kept cheap: in order, in our view, nothing held.
    if (seq === s.next && s.inView && view <= this.viewId && this.phase === 'open' && this.stateIn === null && s.held.size === 0 && s.early.size === 0) {
      s.next++
      this.emit(s, seq, order, frag, data)
      return
    }
    this.accept(s, { seq, view, order, frag, data })
  }

  /** Every member holds `peer`'s stream up to `seq`: safe messages up to there may go. */
  onStable(peer: number, seq: number): void {
    const s = this.streams[peer]
    if (s) this.holdBack.onStable(s, seq)
  }

  onControl(hex: string, payload: Uint8Array): void {
    const c = decodeControl(payload)
    if (c === null) {
      this.controlRejected++
      return
    }
    if (c.kind === 'join' && c.member.endsWith(hex)) this.names.set(hex, c.member)
    const from = this.names.get(hex)
    if (from === undefined) {
      this.controlRejected++
      return
    }
    this.handle(from, c)
    this.pump()
  }

  tick(nowMs: number): void {
    this.nowMs = nowMs
    if (this.view && this.view.coordinator === this.id && !this.gms.flushing && this.holdBack.syncWaiting()) this.gms.ensureBarrier()
    this.gms.tick()
    if (this.atCut && this.view) this.fetchMissing()
    if (this.stateIn) this.askState(true)
    this.stateOut.expire()
    this.pump()
  }

  leave(): void {
    this.gms.leave()
    this.pump()
  }

  /** The member's id (name#hex) if we have heard of it. */
  idOf(hex: string): string | undefined {
    return this.names.get(hex)
  }

  /** Asks for a view without this member (a slow receiver; slowReceiver 'evict'). */
  evict(hex: string): void {
    const id = this.names.get(hex)
    if (id) this.gms.evict(id)
    this.pump()
  }

  // ------------------------------------------------------------ messages

  private accept(s: Stream, r: Rec): void {
    if (s.has(r.seq)) return
    if (!s.inView) {
      // A member proposed into the next view (or, while we join, anyone):
      // its messages wait for the install.
      if (this.view === null ? this.gms.flushing : this.isProposed(s.id)) this.hold(s, r)
      else this.messagesDropped++
      return
    }
    // Sent in a view we have not installed (yet): never delivered before it.
    if (r.view > this.view!.id || ((this.phase !== 'open' || this.stateIn) && !(this.atCut && s.withinCut(r.seq) && !this.stateIn))) {
      this.hold(s, r)
      return
    }
    this.deliverInView(s, r)
  }

  private hold(s: Stream, r: Rec): void {
    if (this.view === null) {
      this.futureBytes += r.data.length + 16
      if (this.futureBytes > this.config.futureBytes) {
        this.messagesDropped++
        return this.finishExcluded('too much arrived before our first view')
      }
    }
    s.held.set(r.seq, r)
    s.heldBytes += r.data.length + 16
  }

  private deliverInView(s: Stream, r: Rec): void {
    if (r.seq === s.next) {
      this.emit(s, r.seq, r.order, r.frag, r.data)
      s.next++
      if (s.early.size) while (s.early.delete(s.next)) s.next++
      if (s.held.size) this.release(s)
    } else if (r.order === UNORDERED && r.frag === WHOLE) {
      this.emit(s, r.seq, r.order, r.frag, r.data)
      s.early.add(r.seq)
    } else {
      this.hold(s, r)
    }
  }

  /** Delivers held messages of `s` that may go now. */
  private release(s: Stream): void {
    if (!s.inView || this.stateIn) return
    const cutOnly = this.phase !== 'open'
    if (this.phase === 'frozen') return
    const viewId = this.view!.id
    for (;;) {
      const r = s.held.get(s.next)
      if (r === undefined || r.view > viewId || (cutOnly && !s.withinCut(r.seq))) break
      this.unhold(s, r)
      this.emit(s, r.seq, r.order, r.frag, r.data)
      s.next++
      if (s.early.size) while (s.early.delete(s.next)) s.next++
    }
    // Unordered messages that may go ahead of the gap.
    if (s.held.size === 0) return
    for (const r of [...s.held.values()]) {
      if (r.order === UNORDERED && r.frag === WHOLE && r.seq > s.next && r.view <= viewId && (!cutOnly || s.withinCut(r.seq))) {
        this.unhold(s, r)
        this.emit(s, r.seq, r.order, r.frag, r.data)
        s.early.add(r.seq)
      }
    }
  }

  private unhold(s: Stream, r: Rec): void {
    s.held.delete(r.seq)
    s.heldBytes -= r.data.length + 16
  }

  private emit(s: Stream, seq: number, order: number, frag: number, data: Uint8Array): void {
    let first = seq
    if (frag !== WHOLE) {
      const whole = this.reassembly.add(s.peer, seq, frag, data)
      if (whole === null) return
      data = whole.data
      first = whole.seq
    }
    if (order === ORDER_RECORD) {
      // Only the sequencer (the view's coordinator) places total messages.
      if (!(this.view && s.id === this.view.coordinator && this.holdBack.onRecord(data))) this.messagesDropped++
      return
    }
    if (!this.holdBack.onMessage(s, order, first, seq, data)) this.messagesDropped++ // malformed, or an order this version does not deliver
  }

  /** The streams of our view (the hold-back's lanes), as of the last install or drop. */
  private viewLanes: Stream[] = []
  private updateLanes(): void {
    this.viewLanes = [...this.byId.values()].filter((s) => s.inView)
  }

  /**
   * A barrier flush is through: every member holds the same messages up to
   * the cut. Deliver them and the barrier's sync messages (deliverBarrier);
   * then go on in the same view.
   */
  private releaseBarrier(): void {
    this.holdBack.deliverBarrier(this.streamsById())
    this.phase = this.gms.blocked ? 'frozen' : 'open' // (a minority side stays frozen)
    for (const s of this.byId.values()) {
      s.target = null
      s.extras = null
    }
    this.port.resume()
    this.releaseAll()
    this.holdBack.drain()
  }

  /**
   * A barrier whose RELEASE never reached us (Member.applyCut): once we hold
   * everything up to its cut, deliver it as the members that got the RELEASE
   * did, then what the later flush's cut adds.
   */
  private settleBarrier(): void {
    // (Called at every look at the cut: the common case, no barrier pending, costs no sort.)
    if (!this.atCut || !this.viewLanes.some((s) => s.barrier !== null)) return
    const streams = this.streamsById()
    for (const s of streams) {
      const b = s.barrier
      if (b === null || (s.hex === this.hex && !this.config.receiveOwn)) continue
      if (s.next <= b.upTo) return
      for (const q of s.barrierExtras!) if (!s.has(q)) return
    }
    this.holdBack.deliverBarrier(streams)
    for (const s of streams) {
      s.barrier = null
      s.barrierExtras = null
    }
    this.releaseAll()
  }

  /** The streams of our view by sender id: the order every member uses where it must choose alike. */
  private streamsById(): Stream[] {
    return [...this.byId.values()].filter((s) => s.inView).sort((a, b) => (a.hex < b.hex ? -1 : a.hex > b.hex ? 1 : 0))
  }

  /** The sequencer sends what it placed (after each batch). */
  private sendOrders(): void {
    for (const record of this.holdBack.total.takeRecords()) this.port.sendOrder(record)
  }

  private isProposed(id: string): boolean {
    return this.gms.proposed(id)
  }

  private drop(s: Stream): void {
    this.port.forget(s.hex)
    this.reassembly.forget(s.peer)
    if (this.streams[s.peer] === s) this.streams[s.peer] = undefined
    this.byHex.delete(s.hex)
    this.byId.delete(s.id)
    if (s.inView) this.updateLanes()
  }

  // ------------------------------------------------------------ the flush (host side)

  private freeze(): Record<string, Holding> {
    if (this.phase === 'open') this.phase = 'frozen'
    const held: Record<string, Holding> = {}
    for (const m of this.view!.members) {
      const s = this.byId.get(m)
      if (!s) continue
      // What we hold without a gap counts, delivered or not: a member still
      // holding a barrier's cut holds what those that got its RELEASE sent
      // after it (and may have delivered as safe, the cores all holding it).
      let upTo = s.next - 1
      for (;;) {
        const r = s.held.get(upTo + 1)
        if (r !== undefined ? r.view > this.viewId : !s.early.has(upTo + 1)) break
        upTo++
      }
      const extras = [...s.early].filter((q) => q > upTo).sort((a, b) => a - b)
      held[m] = [upTo, ...extras]
    }
    return held
  }

  private applyCut(cut: Readonly<Record<string, CutEntry>>, barrier: boolean): void {
    const streams = this.view!.members.map((m) => this.byId.get(m)).filter((s): s is Stream => s !== undefined)
    if (this.phase === 'barrierCut' && !streams.some((s) => s.barrier !== null)) {
      // The cut we hold is a barrier's whose RELEASE never came (its
      // coordinator died or was cut off after sending it to some). Had
      // anyone got it, it delivered the barrier at that cut and sent on, and
      // every survivor had reached the cut. So if this cut holds anything
      // sent after the barrier, we deliver the barrier at its cut first, as
      // they did; if not, nobody did, and its sync messages wait for the
      // view's end like everyone's (HoldBack.finish delivers them alike).
      for (const s of streams) {
        s.barrier = s.target
        s.barrierExtras = s.extras
      }
      const beyond = streams.some((s) => s.barrier !== null && cut[s.id] !== undefined && s.beyondBarrier(cut[s.id]!))
      if (!beyond) {
        for (const s of streams) {
          s.barrier = null
          s.barrierExtras = null
        }
      }
    }
    this.phase = barrier ? 'barrierCut' : 'cut'
    for (const s of streams) {
      const t = cut[s.id] ?? null
      s.target = t
      s.extras = new Set(t ? t.extras.map((e) => e[0]) : [])
      this.release(s)
    }
    this.settleBarrier()
    this.lastFetch = -Infinity
    this.fetchMissing()
  }

  private cutReached(): boolean {
    this.settleBarrier()
    for (const m of this.view!.members) {
      const s = this.byId.get(m)
      if (!s || !s.target) continue
      if (s.hex === this.hex && !this.config.receiveOwn) continue
      if (s.next <= s.target.upTo) return false
      for (const q of s.extras!) if (!s.has(q)) return false
    }
    return true
  }

  /** Asks holders for what we miss of senders that cannot repair it themselves. */
  private fetchMissing(): void {
    if (this.nowMs - this.lastFetch < this.config.retry) return
    this.lastFetch = this.nowMs
    for (const m of this.view!.members) {
      const s = this.byId.get(m)
      if (!s || !s.target) continue
      const t = s.target
      if (s.next !== s.watchedNext) {
        s.watchedNext = s.next
        s.watchedSince = this.nowMs
      }
      // A live sender repairs its own stream through the core; ask it
      // directly only if that stalls (what the core freed while we were
      // left out of its stability, its member runtime still keeps).
      const senderRepairs = !s.suspected && this.nowMs - s.watchedSince < 3 * this.config.retry
      // The holder's core sends what it kept of the stream; it arrives as the sender's own datagrams would.
      for (const [holder, ranges] of s.missing(t, this.id, senderRepairs)) this.port.fetch(s.hex, holder.slice(-16), ranges)
    }
  }

  private install(i: Install, view: View): void {
    const previous = this.view
    if (previous) this.holdBack.finish(this.streamsById()) // the old view's end
    this.holdBack.onView(view, this.id)
    for (const s of [...this.byId.values()]) {
      if (view.members.includes(s.id)) {
        const start = i.starts[s.id] ?? 1
        if (previous === null || !s.inView) {
          // A stream new to us in this view: it starts at `start`; older seqs were another view's.
          s.next = start
          s.totalDone = Math.max(s.totalDone, start - 1) // placements of older messages are not ours to wait for
          for (const q of s.held.keys()) if (q < start) this.unhold(s, s.held.get(q)!)
        } else if (s.next < start) {
          s.next = start // nothing of it was delivered in the old view beyond the cut
        }
        for (const q of s.early) if (q < s.next) s.early.delete(q)
        if (!s.inView && s.hex !== this.hex) this.port.exclude(s.hex, false)
        // Older seqs belong to older views: the core need not wait for them.
        if (s.hex !== this.hex) this.port.advance(s.hex, s.next)
        s.inView = true
        s.target = null
        s.extras = null
        s.barrier = null // (settled: the cut was reached)
        s.barrierExtras = null
      } else if (s.inView) {
        this.drop(s) // gone from the view: its stream ends at the cut
      } else {
        s.held.clear() // not (yet) a member: nothing it sent belongs to this view
        s.heldBytes = 0
      }
    }
    this.updateLanes()
    this.view = view
    this.viewId = view.id
    this.phase = this.gms.blocked ? 'frozen' : 'open' // (a minority side stays frozen)
    this.futureBytes = 0
    this.events.view(view, previous)
    if (i.sides.length > 1) this.events.merge(view, i.sides.map((side) => [...side]))
    const joiners = view.members.filter((m) => !(m in i.starts))
    // The state givers: the named one and, should it die before the joiners
    // have it all, the next old members, a majority of the old members in
    // all: while the group can go on (a majority of the view lives), one of
    // them does. Each takes the state exactly at the view boundary (nothing
    // of the new view is delivered yet). (With two, a joiner whose two givers
    // died had to start over, and could take the view's majority with it.)
    const old = view.members.filter((m) => m in i.starts)
    const givers = i.provider === '' ? [] : [i.provider, ...old.filter((m) => m !== i.provider).slice(0, Math.floor(old.length / 2))]
    // (A member still pulling its own state has none to give: a joiner that
    // turns to it waits, and its join times out, rather than start wrong.)
    if (givers.includes(this.id) && joiners.length && this.stateIn === null) {
      this.stateOut.keep(view.id, this.config.getState ? this.config.getState() : new Uint8Array(0))
    }
    if (previous === null && givers.length && !givers.includes(this.id) && this.config.setState) {
      this.stateIn = new StateTaker(this.stateHost(), view.id, givers)
      this.askState(false)
    } else if (previous === null) {
      this.events.ready()
    }
    this.port.setView(view.id)
    this.port.resume()
    this.releaseAll()
  }

  private releaseAll(): void {
    for (const s of this.byId.values()) if (s.inView && s.held.size) this.release(s)
  }

  // ------------------------------------------------------------ state transfer

  private askState(retryLost: boolean): void {
    const stuck = this.stateIn!.ask(retryLost)
    if (stuck !== null) this.finishExcluded(stuck)
  }

  private onStateChunk(from: string, c: Extract<Control, { kind: 'stateChunk' }>): void {
    const got = this.stateIn?.onChunk(from, c) ?? null
    if (got === 'more') this.askState(false)
    if (!(got instanceof Uint8Array)) return
    this.stateIn = null
    this.config.setState!(got)
    this.gms.stateReady()
    this.events.ready()
    this.releaseAll()
  }

  private stateHost(): StateHost {
    return {
      now: () => this.nowMs,
      send: (c, to) => this.send(c, to),
      gone: (member) => {
        const s = this.byId.get(member)
        return !s || s.suspected
      },
      config: this.config,
    }
  }

  // ------------------------------------------------------------ control messages

  private handle(from: string, c: Control): void {
    switch (c.kind) {
      case 'stateRequest': return this.stateOut.serve(from, c)
      case 'stateChunk': return this.onStateChunk(from, c)
      default: return this.gms.onControl(from, c)
    }
  }

  private send(c: Control, to: string | null): void {
    if (to === this.id) {
      this.local.push([this.id, c])
      return
    }
    const bytes = encodeControl(c)
    if (bytes.length > this.config.maxControl) throw new Error(`troupe: a ${c.kind} message of ${bytes.length} bytes does not fit a datagram (limit ${this.config.maxControl})`)
    this.port.control(bytes, to === null ? null : to.slice(-16))
  }

  /**
   * Handles our own messages to ourselves, outside the call that sent them,
   * and lets a flush move on at once when messages completed its cut. The
   * shell calls it after each batch of deliveries.
   */
  settle(): void {
    this.pump()
  }

  private pump(): void {
    if (this.inLocal) return
    this.inLocal = true
    try {
      if (this.view && this.view.coordinator === this.id && this.phase === 'open') this.sendOrders()
      for (let rounds = 0; rounds < 64; rounds++) {
        for (let c = this.local.shift(); c; c = this.local.shift()) this.handle(c[0], c[1])
        if (this.atCut && this.view && this.gms.flushing) this.gms.tick()
        if (this.local.length === 0) break
      }
    } finally {
      this.inLocal = false
    }
  }

  private finishExcluded(reason: string): void {
    this.events.excluded(reason)
  }

  private host(): GmsHost {
    const self = this
    return {
      get me() {
        return self.id
      },
      now: () => this.nowMs,
      send: (c, to) => this.send(c, to),
      pause: () => {
        const r = this.port.pause()
        return r < 0 ? null : r
      },
      freeze: () => this.freeze(),
      applyCut: (cut, barrier) => this.applyCut(cut, barrier),
      cutReached: () => this.cutReached(),
      install: (i, view) => this.install(i, view),
      hasState: () => this.stateIn === null,
      exclude: (m, excluded) => this.port.exclude(m.slice(-16), excluded),
      hears: (m) => {
        const s = this.byId.get(m)
        return s !== undefined && !s.suspected
      },
      suspected: (m) => {
        if (m === this.id) return false
        const s = this.byId.get(m)
        return s === undefined || s.suspected
      },
      heard: () => [...this.byId.values()].filter((s) => !s.suspected).map((s) => s.id),
      blocked: (blocked, reason) => {
        if (blocked) {
          if (this.phase === 'open') this.phase = 'frozen'
        } else if (!this.gms.flushing) {
          this.phase = 'open'
          this.releaseAll()
        }
        this.events.blocked(blocked, reason)
      },
      excluded: (reason) => this.finishExcluded(reason),
      left: () => this.events.left(),
      release: () => this.releaseBarrier(),
      refused: (holder) => this.events.refused?.(holder),
    }
  }
}
