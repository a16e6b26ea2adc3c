// One member of a group, above the reliability core, sans-IO: it puts
// together the receive path (node/receiver.ts: streams, seqs, the delivery
// phase), the flush at the level of streams (node/cut.ts), state transfer
// (node/state.ts), the order policies' hold-back (order/holdback.ts) and the
// membership protocol (membership/gms.ts), whose host it is. It owns no
// socket and no clock: the live Group (group.ts, over the native engine) and
// the simulator (sim/, over ManualCores and a simulated network) drive the
// same code through a CorePort and these entry points:
//
//   onPeerUp / onPeerDown / onMessage / onControl   what the core reported
//   tick()                                          every few ms
//
// The path of a delivered message: onMessage → Receiver (seq level:
// duplicates, views, freeze, cut) → reassembly → the hold-back's order
// policy → events.deliver.
import { Gms, type GmsConfig, type GmsHost } from './membership/gms.js'
import { CLIENT_KINDS, decodeControl, encodeControl, type Control, type Install } from './membership/messages.js'
import { cut, PIECE, Pieces } from './membership/pieces.js'
import { Direct } from './node/direct.js'
import type { Message, View } from './message.js'
import { FlushCut } from './node/cut.js'
import { Receiver, type FastSink, type RoomSink } from './node/receiver.js'
import { StateGiver, StateTaker, stateGivers, type StateHost } from './node/state.js'
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
  /** A message of the system channel (transfer/room.ts), whole, in its sender's stream order. */
  system?(sender: string, data: Uint8Array): void
  /** A direct message from another member (node/direct.ts), in the order it sent them. */
  direct?(sender: string, data: Uint8Array): void
  /** A CONTROL payload of the clients' channel (open groups, clients/wire.ts) from the sender with incarnation `hex`. */
  client?(hex: string, payload: Uint8Array): void
  /** Every member holds our own stream up to `seq`. */
  ownStable?(seq: number): void
  /** A sender heard for the first time (udp-unicast: time to tell the group the addresses we know). */
  heard?(hex: string): void
  /** Addresses ('ip:port') of members another member knows (discovery.ts). */
  peers?(addresses: readonly string[]): void
  /** transport 'auto': member `hex` asks us to send to it by unicast too, or no longer (fallback.ts). */
  via?(hex: string, unicast: boolean): void
}

export interface MemberConfig extends GmsConfig {
  /** This member's id, name#16 hex digits. */
  id: string
  /** Largest CONTROL payload (datagram size minus header). */
  maxControl: number
  /** Bytes a joiner buffers before its first view (beyond: it starts over). */
  futureBytes: number
  /** Largest record in our stream (an ORDER record must fit one). */
  maxRecord: number
  receiveOwn: boolean
  getState?: (() => Uint8Array) | undefined
  setState?: ((state: Uint8Array) => void) | undefined
}

export class Member {
  readonly id: string
  readonly hex: string
  readonly gms: Gms
  private readonly receiver: Receiver
  private readonly flush: FlushCut
  private readonly holdBack: HoldBack
  private view: View | null = null
  private taker: StateTaker | null = null // a joiner pulling the state
  private readonly stateOut: StateGiver
  private readonly direct: Direct
  private readonly local: [string, Control][] = []
  private inLocal = false
  private nowMs = 0
  /** CONTROL payloads dropped: malformed, or from a sender we cannot name. */
  controlRejected = 0
  /** Membership messages larger than a datagram: the ones coming in, being put together; the number of ours. */
  private readonly pieces = new Pieces()
  private pieceId = 0

  constructor(private readonly port: CorePort, private readonly events: MemberEvents, private readonly config: MemberConfig, nowMs: number) {
    this.id = config.id
    this.hex = config.id.slice(-16)
    this.nowMs = nowMs
    this.stateOut = new StateGiver(this.stateHost())
    this.direct = new Direct({
      send: (c, to) => this.send(c, to),
      deliver: (from, bytes) => this.events.direct?.(from, bytes),
      now: () => this.nowMs,
      later: (flush) => queueMicrotask(flush),
      retry: config.retry,
      maxControl: config.maxControl,
    })
    this.holdBack = new HoldBack({
      deliver: (msg) => events.deliver(msg),
      laneOf: (hex) => {
        const s = this.receiver.table.byHex.get(hex)
        return s?.inView ? s : undefined
      },
      lanes: () => this.receiver.table.lanes,
      coordinating: () => this.view !== null && this.view.coordinator === this.id,
      frozen: () => this.receiver.phase !== 'open',
      wantBarrier: () => this.gms.requestBarrier(),
    }, config)
    this.receiver = new Receiver(port, {
      flushing: () => this.gms.flushing,
      proposed: (id) => this.gms.proposed(id),
      overflow: (reason) => this.events.excluded(reason),
      system: (sender, data) => this.events.system?.(sender, data),
    }, this.holdBack, config)
    this.flush = new FlushCut(this.receiver, this.holdBack, port, config, () => this.nowMs)
    this.gms = new Gms(this.host(), config)
  }

  /** The causal header for a message we send now (order/causal.ts). */
  causalHeader(): Uint8Array {
    return this.holdBack.causal.header()
  }
  /** Messages dropped by the view rules (from non-members, or a joiner's overflow). */
  get messagesDropped(): number {
    return this.receiver.dropped
  }
  /** Total and safe messages placed as the sequencer, ever (the shell watches it). */
  get placements(): number {
    return this.holdBack.total.placements
  }
  /** Messages waiting for their order. */
  get heldBack(): number {
    return this.holdBack.held
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
  setNow(nowMs: number): void {
    this.nowMs = nowMs
  }

  // ------------------------------------------------------------ input from the core

  onPeerUp(peer: number, hex: string, name: string): void {
    this.receiver.onPeerUp(peer, hex, name)
    this.events.heard?.(hex)
  }

  /** transport 'auto': asks member `hex` to send to us by unicast too, or no longer (fallback.ts). */
  askVia(hex: string, unicast: boolean): void {
    this.send({ kind: 'via', unicast }, hex)
  }

  /** Tells the group the members' addresses we know (discovery.ts: udp-unicast gossip). */
  gossip(addresses: readonly string[]): void {
    this.send({ kind: 'peers', addresses }, null)
  }

  onPeerDown(peer: number, hex: string, reason: 'left' | 'silent' | 'forgotten'): void {
    const s = this.receiver.table.byHex.get(hex)
    if (reason === 'forgotten') {
      this.receiver.table.unbind(peer, s)
      return
    }
    if (!s) return
    s.suspected = true
    // Not one of ours (a joiner that went away, an old incarnation): drop it.
    if (!s.inView && !this.gms.proposed(s.id)) this.receiver.drop(s)
    this.pump()
  }

  onMessage(peer: number, seq: number, view: number, order: number, frag: number, bytes: Uint8Array, start: number, end: number): void {
    this.receiver.onMessage(peer, seq, view, order, frag, bytes, start, end)
  }

  onAssembled(peer: number, first: number, last: number, view: number, order: number, data: Uint8Array): void {
    this.receiver.onAssembled(peer, first, last, view, order, data)
  }

  /**
   * While a sink is set, the common path's messages go to it (receiver.ts
   * FastSink), not through the hold-back and deliver(). `transient`: the
   * records' bytes are valid only until the batch ends (read in place).
   */
  takeFast(sink: FastSink | null, transient: boolean): void {
    this.receiver.fast = sink
    this.receiver.transient = transient
  }

  /** Fifo and unordered room messages on the common path go to `sink` (subjects), while the fast path is taken. */
  takeRooms(sink: RoomSink | null): void {
    this.receiver.subjects = sink
  }
  /** Are the records' bytes read in place (valid until the batch ends)? */
  get transient(): boolean {
    return this.receiver.transient
  }

  /** Messages first..last of `peer` that the engine dropped (no subscription wants them): their seqs only. */
  onSkipped(peer: number, view: number, first: number, last: number): void {
    this.receiver.onSkipped(peer, view, first, last)
  }

  /** Every member holds `peer`'s stream up to `seq`: safe messages up to there may go. */
  onStable(peer: number, seq: number): void {
    this.receiver.onStable(peer, seq)
    if (this.events.ownStable && this.receiver.table.at(peer)?.hex === this.hex) this.events.ownStable(seq)
  }

  onControl(hex: string, payload: Uint8Array): void {
    // (Read in place from the ring: what is kept must be a copy.)
    if (payload[0]! >= CLIENT_KINDS) {
      if (this.events.client) this.events.client(hex, this.receiver.transient ? payload.slice() : payload)
      else this.controlRejected++
      return
    }
    let bytes = this.receiver.transient ? payload.slice() : payload
    if (bytes[0] === PIECE) {
      // A piece of a message larger than a datagram (membership/pieces.ts): on with the whole, once here.
      const whole = this.pieces.add(hex, bytes, this.nowMs)
      if (whole === null) return
      bytes = whole
    }
    const c = decodeControl(bytes)
    if (c === null) {
      this.controlRejected++
      return
    }
    const names = this.receiver.table.names
    if (c.kind === 'join' && c.member.endsWith(hex)) names.set(hex, c.member)
    const from = names.get(hex)
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
    if (this.receiver.atCut && this.view) this.flush.fetchMissing(this.view.members)
    if (this.taker) this.askState(true)
    this.stateOut.expire()
    this.direct.tick()
    this.pump()
  }

  leave(): void {
    this.gms.leave()
    this.pump()
  }

  /**
   * Sends `bytes` to member `to` alone, reliably and in order (node/direct.ts);
   * false if they do not fit one datagram (nothing sent).
   */
  sendDirect(to: string, bytes: Uint8Array): boolean {
    if (bytes.length > this.direct.maxMessage) return false
    this.direct.send(to, bytes)
    return true
  }

  /** No direct message of ours waits for its acknowledgement. */
  get directIdle(): boolean {
    return this.direct.idle
  }

  /** The member's id (name#hex) if we have heard of it. */
  idOf(hex: string): string | undefined {
    return this.receiver.table.names.get(hex)
  }

  /** Asks for a view without this member (a slow receiver; slowReceiver 'evict'). */
  evict(hex: string): void {
    const id = this.idOf(hex)
    if (id) this.gms.evict(id)
    this.pump()
  }

  // ------------------------------------------------------------ a new view

  private install(i: Install, view: View): void {
    const previous = this.view
    if (previous) this.holdBack.finish(this.receiver.table.sorted()) // the old view's end
    this.holdBack.onView(view, this.id)
    this.direct.onView(view.members)
    this.receiver.install(i, view, this.gms.blocked) // (a minority side stays frozen)
    this.view = view
    this.events.view(view, previous)
    if (i.sides.length > 1) this.events.merge(view, i.sides.map((side) => [...side]))
    const joiners = view.members.filter((m) => !(m in i.starts))
    const givers = stateGivers(i, view)
    // (A member still pulling its own state has none to give: a joiner that
    // turns to it waits, and its join times out, rather than start wrong.)
    if (givers.includes(this.id) && joiners.length && this.taker === null) {
      this.stateOut.keep(view.id, this.config.getState ? this.config.getState() : new Uint8Array(0))
    }
    if (previous === null && givers.length && !givers.includes(this.id) && this.config.setState) {
      this.setTaker(new StateTaker(this.stateHost(), view.id, givers))
      this.askState(false)
    } else if (previous === null) {
      this.events.ready()
    }
    this.port.setView(view.id)
    this.port.resume()
    this.receiver.releaseAll()
  }

  // ------------------------------------------------------------ state transfer

  /** The joiner's state pull; the receiver delivers nothing while one is under way. */
  private setTaker(taker: StateTaker | null): void {
    this.taker = taker
    this.receiver.awaitingState = taker !== null
  }

  private askState(retryLost: boolean): void {
    const stuck = this.taker!.ask(retryLost)
    if (stuck !== null) this.events.excluded(stuck)
  }

  private onStateChunk(from: string, c: Extract<Control, { kind: 'stateChunk' }>): void {
    const got = this.taker?.onChunk(from, c) ?? null
    if (got === 'more') this.askState(false)
    if (!(got instanceof Uint8Array)) return
    this.setTaker(null)
    this.config.setState!(got)
    this.gms.stateReady()
    this.events.ready()
    this.receiver.releaseAll()
  }

  private stateHost(): StateHost {
    return {
      now: () => this.nowMs,
      send: (c, to) => this.send(c, to),
      gone: (member) => {
        const s = this.receiver.table.byId.get(member)
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
      case 'direct': return this.direct.onDirect(from, c.parts)
      case 'directAck': return this.direct.onAck(from, c.seq)
      case 'peers': return this.events.peers?.(c.addresses)
      case 'via': return this.events.via?.(from.slice(-16), c.unicast)
      default: return this.gms.onControl(from, c)
    }
  }

  private send(c: Control, to: string | null): void {
    if (to === this.id) {
      this.local.push([this.id, c])
      return
    }
    const bytes = encodeControl(c)
    const hex = to === null ? null : to.slice(-16)
    if (bytes.length <= this.config.maxControl) this.port.control(bytes, hex)
    else for (const piece of cut(bytes, this.config.maxControl, ++this.pieceId)) this.port.control(piece, hex)
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
      // The sequencer sends what it placed (after each batch).
      if (this.view && this.view.coordinator === this.id && this.receiver.phase === 'open') {
        for (const record of this.holdBack.total.takeRecords()) this.port.sendOrder(record)
      }
      for (let rounds = 0; rounds < 64; rounds++) {
        for (let c = this.local.shift(); c; c = this.local.shift()) this.handle(c[0], c[1])
        if (this.receiver.atCut && this.view && this.gms.flushing) this.gms.tick()
        if (this.local.length === 0) break
      }
    } finally {
      this.inLocal = false
    }
  }

  /** The membership protocol's view of this member (membership/gms.ts). */
  private host(): GmsHost {
    const self = this
    const table = this.receiver.table
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
      freeze: () => this.flush.freeze(this.view!.members, this.view!.id),
      applyCut: (cut, barrier) => this.flush.apply(this.view!.members, cut, barrier),
      cutReached: () => this.flush.reached(this.view!.members),
      install: (i, view) => this.install(i, view),
      hasState: () => this.taker === null,
      exclude: (m, excluded) => this.port.exclude(m.slice(-16), excluded),
      hears: (m) => {
        const s = table.byId.get(m)
        return s !== undefined && !s.suspected
      },
      suspected: (m) => {
        if (m === this.id) return false
        const s = table.byId.get(m)
        return s === undefined || s.suspected
      },
      heard: () => [...table.byId.values()].filter((s) => !s.suspected).map((s) => s.id),
      blocked: (blocked, reason) => {
        if (blocked) {
          if (this.receiver.phase === 'open') this.receiver.phase = 'frozen'
        } else if (!this.gms.flushing) {
          this.receiver.phase = 'open'
          this.receiver.releaseAll()
        }
        this.events.blocked(blocked, reason)
      },
      excluded: (reason) => this.events.excluded(reason),
      left: () => this.events.left(),
      release: () => this.flush.release(this.gms.blocked),
      refused: (holder) => this.events.refused?.(holder),
    }
  }
}
