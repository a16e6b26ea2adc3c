// Group: join / send / leave / events, over one live member: the native
// engine (engine.ts, through the rings in ring.ts) below, the member runtime
// (member.ts: agreed views, the flush, state transfer, order policies) above.
// The sending path goes straight into the outbound ring; everything received
// goes through the member.
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'

import { addon, counterIndex, NativeEngine, RecordType } from './engine.js'
import { Frag } from './fragments.js'
import { Member, type CorePort } from './member.js'
import { ORDER_RECORD } from './order/total.js'
import type { Message, View } from './message.js'
import { ipv4ToInt, KEY_BYTES, ORDERS, resolveJoinOptions, validateGroupName, type JoinOptions, type Order, type ResolvedOptions } from './options.js'
import { RingConsumer, RingProducer } from './ring.js'

export interface SendOptions {
  order?: Order
}

export interface GroupStats {
  me: string
  view: View
  /** The engine's counters (see `counterDocs` for what each means). */
  counters: Record<string, number>
  /** Bytes and messages queued by send() while the window was full (or the order credit used up). */
  pendingBytes: number
  pendingMessages: number
  /** Bytes of our own total and safe messages sent and not yet delivered here; at 2 × window, more wait in the queue. */
  orderedBytes: number
  /** Messages here waiting for their order (total, safe, causal, sync, and fifo ones behind them). */
  heldBack: number
  /** Bytes of messages in reassembly. */
  reassemblyBytes: number
  /** Messages dropped in reassembly (broken fragment runs, too large). */
  reassemblyDropped: number
  /** Membership CONTROL datagrams dropped as malformed or from an unknown sender. */
  controlRejected: number
  /** Messages dropped by the view rules (sent by non-members, or in views we were not in). */
  viewDropped: number
  /** Times this member was excluded and came back as a new incarnation. */
  rejoins: number
  /** Every other member's lag behind this member's stream. */
  members: MemberLag[]
}

export interface BlockedInfo {
  /** true: this side of a partition holds no majority of the view, so it delivers nothing new; false: it goes on. */
  blocked: boolean
  reason: string
}

export interface MergeInfo {
  view: View
  /** The members of each side, as they come into the merged view. */
  sides: string[][]
}

export interface GroupEvents {
  message: [msg: Message]
  view: [view: View]
  drain: []
  error: [err: Error]
  /** A minority side of a partition stops (and later goes on, or rejoins). */
  blocked: [info: BlockedInfo]
  /** partitions: 'merge': sides that went on apart are one view again (emitted after its 'view'). */
  merge: [info: MergeInfo]
  /** This member was left out of the group's view (wrongly suspected, on a minority side, or evicted as slow) and is joining again as a new incarnation: `group.me` is already the new id. */
  rejoining: [reason: string]
  /** A member held this member's flow-control window full for slowReceiverTimeout (slowReceiver 'evict': it is being removed). */
  slow: [info: SlowInfo]
}

export interface SlowInfo {
  member: string
  /** Our messages it did not hold yet. */
  lag: number
  /** true with slowReceiver 'evict': a view without it follows. */
  evicting: boolean
}

/** How far one member is behind this member's stream (group.stats().members). */
export interface MemberLag {
  member: string
  /** Our messages it has acknowledged (cumulative) and those it does not hold yet. */
  acked: number
  lag: number
  /** How long it has held our flow-control window full (0: it does not). */
  behindMs: number
  /** Since we last heard from it. */
  silentMs: number
}

const SESSION_CLOSED = -1
const ORDER_CODE: Readonly<Record<string, number>> = Object.freeze(Object.fromEntries(ORDERS.map((o, i) => [o, i])))
const FIFO = 1
const CAUSAL = 2
const TOTAL = 3
const SAFE = 4
const SEQUENCER_POLL_US = 50 // how long the sequencer keeps reading after a receive, while it places total messages
const SEQUENCER_POLL_FOR_MS = 100 // ... placed that recently
const OUTBOUND_BYTES = 4 << 20
const INBOUND_BYTES = 8 << 20

class TroupeError extends Error {
  constructor(message: string, readonly code: string) {
    super(message)
  }
}

interface Pending {
  data: Uint8Array // our own copy
  order: number
  offset: number // next byte to write (fragments)
}

export class Group extends EventEmitter<GroupEvents> {
  /**
   * Joins the group `name` and resolves once this member is in an agreed
   * view (with the group's state, if getState/setState are given). Options
   * are described in options.ts (JOIN_OPTIONS); a wrong name or value throws
   * a TypeError or RangeError naming the option.
   */
  static async join(name: string, options?: JoinOptions): Promise<Group> {
    const group = validateGroupName(name)
    const resolved = resolveJoinOptions(group, options)
    const g = new Group(group, resolved)
    const limit = resolved.joinTimeout
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        g.joined,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new TroupeError(`no view after ${limit} ms: is the group's coordinator blocked (minority side)?`, 'ERR_TROUPE_JOIN_TIMEOUT')), limit)
        }),
      ])
    } catch (err) {
      g.shutdown()
      throw err
    } finally {
      clearTimeout(timer)
    }
    // Messages of the first view wait until the caller, resumed by this
    // promise, has had its turn to add its 'message' handler.
    setImmediate(() => g.releaseEarly())
    return g
  }

  readonly name: string
  private readonly options: ResolvedOptions
  private engine!: NativeEngine
  private outbound!: RingProducer
  private inbound!: RingConsumer
  private counters!: BigUint64Array
  private member!: Member
  private maxPayload = 0
  private selfId = ''
  private session = 0
  private readonly peers: string[] = []
  private readonly pending: Pending[] = []
  private pendingBytes = 0
  // ORDER records that found the ring full: they go before any queued message
  // (they never wait for order credit, which our own records may be the ones to free).
  private readonly records: Uint8Array[] = []
  // Bytes of our own total and safe messages sent and not yet delivered here
  // (not yet placed in the one order): at orderedLimit, more wait in `pending`.
  private orderedOut = 0
  private orderedLimit = 0
  private creditWait = false // the head of `pending` waits for order credit
  private needDrain = false
  private flushQueued = false
  private closed = false
  private rejoins = 0
  private readonly ticker: NodeJS.Timeout
  private readonly joined: Promise<void>
  private onJoined: (() => void) | null = null
  private onLeft: (() => void) | null = null
  private readonly flushFn = () => this.flush()
  private early: Message[] | null = []

  private constructor(name: string, options: ResolvedOptions) {
    super()
    this.name = name
    this.options = options
    this.key = options.key
    this.joined = new Promise((resolve) => (this.onJoined = resolve))
    this.orderedLimit = 2 * options.window
    this.open()
    // The membership's retries and timeouts. Heartbeats do not depend on it
    // (the native I/O thread sends them), so a busy loop delays views, never
    // causes suspicion.
    this.ticker = setInterval(() => this.tick(), Math.max(2, Math.min(20, retryOf(options) / 2)))
    this.ticker.unref()
    setImmediate(() => this.tick()) // ask to join at once
  }

  /** This member's id: its name and a random incarnation, `name#0123456789abcdef`. Changes if the member has to rejoin. */
  get me(): string {
    return this.selfId
  }

  /** The current view. */
  get view(): View {
    return this.member.currentView ?? { id: 0, members: [], coordinator: '' }
  }

  /**
   * Multicasts `data` to the group. The bytes are copied before send()
   * returns, so the caller may reuse its buffer. Returns false when the
   * flow-control window is full: the message is queued (not lost) and
   * 'drain' is emitted when sending may go on (the Node Writable convention).
   * During a view change messages wait in the ring and go out in the new view.
   */
  send(data: Uint8Array, options?: SendOptions): boolean {
    if (!(data instanceof Uint8Array)) throw new TypeError(`data must be a Uint8Array, got ${data === null ? 'null' : typeof data}`)
    let order = FIFO
    if (options !== undefined) {
      if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object')
      if (options.order !== undefined) {
        const code = ORDER_CODE[options.order as string]
        if (code === undefined) throw new RangeError(`option order must be one of ${ORDERS.join(', ')}, got '${String(options.order)}'`)
        order = code
      }
    }
    if (this.closed) throw new TroupeError('the group was left', 'ERR_TROUPE_CLOSED')
    if (data.length > this.options.maxMessageSize) {
      throw new RangeError(`message of ${data.length} bytes is larger than maxMessageSize (${this.options.maxMessageSize})`)
    }
    if (order === CAUSAL) {
      // Its dependencies travel in front of it (order/causal.ts).
      const header = this.member.causalHeader()
      const framed = new Uint8Array(header.length + data.length)
      framed.set(header)
      framed.set(data, header.length)
      data = framed
    }
    if (this.pending.length === 0 && this.orderCredit(data.length, order)) {
      if (data.length <= this.maxPayload) {
        if (this.writeWhole(data, order)) return this.placing(data.length, order)
      } else {
        const offset = this.writeFragments(data, order, 0)
        this.placing(data.length, order)
        if (offset === data.length) return true
        return this.queue(data, order, offset)
      }
    }
    return this.queue(data, order, 0)
  }

  /**
   * A barrier: sends a 'sync' message and resolves once it is delivered here.
   * Every member delivers it after the same set of messages (everything sent
   * before it) and before everything sent after it.
   */
  sync(): Promise<void> {
    const token = new Uint8Array(8)
    crypto.getRandomValues(token)
    const key = Buffer.from(token).toString('hex')
    const done = new Promise<void>((resolve) => this.syncWaiters.set(key, resolve))
    this.send(token, { order: 'sync' })
    return done
  }
  private readonly syncWaiters = new Map<string, () => void>()

  /**
   * Closed groups: seal with `key` from now on, and still accept the old key
   * for `graceMs` (default 10 s). Call it on every member within that time:
   * datagrams a member cannot open yet are repaired by retransmission once it
   * has the new key; a member still without it when the grace ends is cut off.
   */
  rotateKey(key: Uint8Array, { graceMs = 10_000 }: { graceMs?: number } = {}): void {
    if (!this.key) throw new TroupeError('rotateKey() needs a closed group (join with option key)', 'ERR_TROUPE_UNSUPPORTED')
    if (!(key instanceof Uint8Array)) throw new TypeError('key must be a Uint8Array')
    if (key.length !== KEY_BYTES) throw new RangeError(`key must be ${KEY_BYTES} bytes, got ${key.length}`)
    if (typeof graceMs !== 'number' || !(graceMs >= 0 && graceMs <= 86_400_000)) throw new RangeError(`graceMs must be between 0 and 86400000 ms, got ${graceMs}`)
    this.key = Uint8Array.from(key)
    if (!this.closed) this.engine.rekey(this.key, graceMs)
  }
  private key: Uint8Array | null = null

  /** Counters and queue sizes, for monitoring and tests. */
  stats(): GroupStats {
    const counters: Record<string, number> = {}
    for (const [name, i] of Object.entries(counterIndex)) counters[name] = Number(this.counters[i])
    return {
      me: this.me,
      view: this.view,
      counters,
      pendingBytes: this.pendingBytes,
      pendingMessages: this.pending.length,
      orderedBytes: this.orderedOut,
      heldBack: this.member.heldBack,
      reassemblyBytes: this.member.reassemblyBytes,
      reassemblyDropped: this.member.reassemblyDropped,
      controlRejected: this.member.controlRejected,
      viewDropped: this.member.messagesDropped,
      rejoins: this.rejoins,
      members: this.closed ? [] : this.engine.lags().map((l) => ({
        member: this.member.idOf(l.id) ?? l.id,
        acked: l.acked,
        lag: l.lag,
        behindMs: l.behindMs,
        silentMs: l.silentMs,
      })),
    }
  }

  /**
   * Leaves the group: waits (up to `timeoutMs`) until queued messages are
   * handed to the engine, then takes part in the view change that removes
   * this member (so that every message it sent is delivered to the others
   * first), and closes the sockets.
   */
  async leave(timeoutMs = 2000): Promise<void> {
    if (this.closed) return
    const deadline = performance.now() + timeoutMs
    if (this.pending.length > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, timeoutMs)
        function done() {
          clearTimeout(timer)
          resolve()
        }
        this.once('drain', done)
      })
    }
    this.flush()
    if (this.member.joined && this.view.members.length > 1) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - performance.now()) + 2 * this.options.suspectTimeout)
        timer.unref()
        this.onLeft = () => {
          clearTimeout(timer)
          resolve()
        }
        this.member.leave()
      })
    }
    this.shutdown()
  }

  // ------------------------------------------------------------ the live member

  /** Opens a new incarnation: engine, rings and member runtime. */
  private open(): void {
    const options = this.options
    const inject = options.inject
    // The inbound ring must hold several of the largest datagrams.
    const inboundBytes = Math.max(INBOUND_BYTES, nextPowerOfTwo(options.datagramSize * 8))
    const session = ++this.session
    this.sequencerPolls = false // (a new engine polls as the options say)
    this.placements = 0
    // A new incarnation: our old messages never come back to us.
    this.orderedOut = 0
    if (this.creditWait) {
      this.creditWait = false
      queueMicrotask(() => this.pumpPending())
    }
    const engine = new addon.Engine(
      {
        groupHash: addon.groupHash(this.name),
        name: options.name,
        groupIp: networkOrder(ipv4ToInt(options.address)),
        port: options.port,
        interfaceIp: networkOrder(ipv4ToInt(options.interface)),
        ttl: options.ttl,
        datagramSize: options.datagramSize,
        windowBytes: options.window,
        statusIntervalNs: options.statusInterval * 1e6,
        nakDelayNs: options.nakDelay * 1e6,
        suspectTimeoutNs: options.suspectTimeout * 1e6,
        slowTimeoutNs: options.slowReceiverTimeout * 1e6,
        receiveOwn: options.receiveOwn,
        autoRemove: false,
        retainBytes: 2 * options.window,
        receiveBuffer: options.receiveBuffer,
        sendBuffer: options.sendBuffer,
        busyPollNs: options.busyPoll * 1000,
        outboundBytes: OUTBOUND_BYTES,
        inboundBytes,
        seed: Math.floor(Math.random() * 2 ** 32),
        ...(this.key ? { key: this.key } : {}),
        ...(options.transport === 'udp-unicast' ? { peers: options.peers.flatMap((p) => [networkOrder(ipv4ToInt(p.address)), p.port]) } : {}),
        ...(inject ? { injectLoss: inject.loss, injectDuplicate: inject.duplicate, injectReorder: inject.reorder, injectSeed: inject.seed } : {}),
      },
      () => this.onWake(session),
    )
    const info = engine.info!
    const memory = engine.memory()
    this.engine = engine
    this.outbound = new RingProducer(memory, info.outboundOffset, OUTBOUND_BYTES)
    this.inbound = new RingConsumer(memory, info.inboundOffset, inboundBytes)
    this.counters = new BigUint64Array(memory, 0, addon.counters.length)
    // Room for a fragment inside a FETCHED control datagram too (member.ts).
    this.maxPayload = Math.min(info.maxPayload - 128, this.outbound.maxPayload)
    this.selfId = `${options.name}#${info.self}`
    this.peers.length = 0
    const port: CorePort = {
      control: (payload, to) => engine.control(payload, to),
      pause: () => engine.pause(),
      resume: () => engine.resume(),
      exclude: (hex, excluded) => engine.exclude(hex, excluded),
      forget: (hex) => engine.forget(hex),
      setView: (view) => engine.setView(view),
      advance: (hex, seq) => engine.advance(hex, seq),
      fetch: (sender, holder, ranges) => engine.fetch(sender, holder, ranges),
      sendOrder: (record) => this.sendRecord(record),
    }
    this.member = new Member(port, {
      deliver: (msg: Message) => {
        if ((msg.order === 'total' || msg.order === 'safe') && msg.sender === this.selfId) this.placed(msg.data.length)
        if (msg.order === 'sync' && msg.sender === this.selfId && this.syncWaiters.size) {
          const key = Buffer.from(msg.data).toString('hex')
          const resolve = this.syncWaiters.get(key)
          if (resolve) {
            this.syncWaiters.delete(key)
            queueMicrotask(resolve)
          }
        }
        // (Without receiveOwn our own messages come here only to take their place: not delivered.)
        if (msg.sender === this.selfId && !this.options.receiveOwn) return
        if (this.early) this.early.push(msg)
        else this.emit('message', msg)
      },
      view: (view: View) => this.emit('view', view),
      ready: () => {
        if (this.onJoined) {
          this.onJoined()
          this.onJoined = null
        }
      },
      blocked: (blocked: boolean, reason: string) => this.emit('blocked', { blocked, reason }),
      merge: (view: View, sides: string[][]) => this.emit('merge', { view, sides }),
      excluded: (reason: string) => queueMicrotask(() => this.rejoin(session, reason)),
      left: () => this.onLeft?.(),
    }, {
      id: this.selfId,
      suspectTimeout: options.suspectTimeout,
      retry: retryOf(options),
      discovery: options.discovery,
      partitions: options.partitions,
      maxControl: options.datagramSize - (this.key ? addon.limits.sealOverhead : 0) - addon.limits.dataHeaderBytes + 16,
      futureBytes: Math.max(64 << 20, 4 * options.window),
      maxMessageSize: options.maxMessageSize,
      maxRecord: this.maxPayload,
      receiveOwn: options.receiveOwn,
      getState: options.getState,
      setState: options.setState,
    }, performance.now())
  }

  /** Excluded from the view: close this incarnation and join again as a new one. */
  private rejoin(session: number, reason: string): void {
    if (this.closed || session !== this.session) return
    this.session = SESSION_CLOSED
    this.engine.close()
    this.rejoins++
    try {
      this.open()
    } catch (err) {
      this.closed = true
      clearInterval(this.ticker)
      this.emit('error', err as Error)
      return
    }
    // After open(): group.me is already the new incarnation's id.
    this.emit('rejoining', reason)
  }

  private releaseEarly(): void {
    const early = this.early
    this.early = null
    if (early) for (const msg of early) this.emit('message', msg)
  }

  private tick(): void {
    if (this.closed) return
    this.member.tick(performance.now())
  }

  private shutdown(): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.ticker)
    this.session = SESSION_CLOSED
    this.engine.close()
  }

  // ------------------------------------------------------------ sending

  private writeWhole(data: Uint8Array, order: number): boolean {
    if (!this.outbound.write(RecordType.send, order, data, 0, data.length)) {
      // Ring full: hand what is there to the engine right now, then retry once.
      this.flush()
      if (!this.outbound.write(RecordType.send, order, data, 0, data.length)) return false
    }
    this.scheduleFlush()
    return true
  }

  /** Writes fragments from `offset`; returns the offset reached. */
  private writeFragments(data: Uint8Array, order: number, offset: number): number {
    const size = this.maxPayload
    while (offset < data.length) {
      const end = Math.min(offset + size, data.length)
      const frag = offset === 0 ? Frag.first : end === data.length ? Frag.last : Frag.middle
      if (!this.outbound.write(RecordType.send, order | (frag << 4), data, offset, end)) {
        this.flush()
        if (!this.outbound.write(RecordType.send, order | (frag << 4), data, offset, end)) break
      }
      offset = end
    }
    this.scheduleFlush()
    return offset
  }

  private queue(data: Uint8Array, order: number, offset: number): false {
    const bytes = data.length - offset
    if (this.pendingBytes + bytes > this.options.maxPending) {
      throw new TroupeError(
        `send queue is full (${this.pendingBytes} bytes waiting, maxPending ${this.options.maxPending}): wait for 'drain' when send() returns false`,
        'ERR_TROUPE_BACKPRESSURE',
      )
    }
    this.pending.push({ data: data.slice(), order, offset })
    this.pendingBytes += bytes
    this.needDrain = true
    // Never pump (and so never emit 'drain') inside send(): the caller has
    // not seen `false` yet and could not be waiting for 'drain'.
    if (this.outbound.waitForSpace(Math.min(bytes, this.maxPayload))) queueMicrotask(() => this.pumpPending())
    return false
  }

  /** Moves queued messages into the ring while it has room. */
  private pumpPending(): void {
    if (this.closed) return
    while (this.records.length > 0 && (this.pending.length === 0 || this.pending[0]!.offset === 0)) {
      if (!this.writeWhole(this.records[0]!, ORDER_RECORD)) break
      this.records.shift()
    }
    if (this.records.length > 0) {
      if (this.outbound.waitForSpace(this.maxPayload)) queueMicrotask(() => this.pumpPending())
      return
    }
    while (this.pending.length > 0) {
      const p = this.pending[0]!
      const before = p.offset
      if (p.offset === 0 && !this.orderCredit(p.data.length, p.order)) {
        this.creditWait = true // placed() pumps again
        return
      }
      if (p.offset === 0 && p.data.length <= this.maxPayload) {
        if (!this.writeWhole(p.data, p.order)) break
        p.offset = p.data.length
        this.placing(p.data.length, p.order)
      } else {
        if (p.offset === 0) this.placing(p.data.length, p.order)
        p.offset = this.writeFragments(p.data, p.order, p.offset)
      }
      this.pendingBytes -= p.offset - before
      if (p.offset < p.data.length) break
      this.pending.shift()
    }
    if (this.pending.length > 0) {
      if (this.outbound.waitForSpace(this.maxPayload)) queueMicrotask(() => this.pumpPending())
      return
    }
    if (this.needDrain) {
      this.needDrain = false
      this.emit('drain')
    }
  }

  /**
   * An ORDER record in our stream, ahead of queued messages (between two
   * messages, never inside a fragmented one): it places messages already
   * sent, wherever it goes, and may be what frees the order credit they wait for.
   */
  private sendRecord(data: Uint8Array): void {
    if (this.closed) return
    if (this.records.length === 0 && (this.pending.length === 0 || this.pending[0]!.offset === 0) && this.writeWhole(data, ORDER_RECORD)) return
    this.records.push(data.slice())
    if (this.outbound.waitForSpace(data.length)) queueMicrotask(() => this.pumpPending())
  }

  /**
   * May a message of `order` go out now? Total and safe ones wait while our
   * own earlier ones, orderedLimit bytes of them, are not yet delivered here
   * (a stalled sequencer holds its senders back instead of filling every
   * member's memory with messages waiting for their place). One always may.
   */
  private orderCredit(bytes: number, order: number): boolean {
    return (order !== TOTAL && order !== SAFE) || this.orderedOut === 0 || this.orderedOut + bytes <= this.orderedLimit
  }
  private placing(bytes: number, order: number): true {
    if (order === TOTAL || order === SAFE) this.orderedOut += bytes
    return true
  }
  /** One of our own total or safe messages was delivered here: its bytes no longer wait. */
  private placed(bytes: number): void {
    this.orderedOut = Math.max(0, this.orderedOut - bytes)
    const head = this.pending[0]
    if (this.creditWait && (head === undefined || this.orderCredit(head.data.length, head.order))) {
      this.creditWait = false
      queueMicrotask(() => this.pumpPending())
    }
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return
    this.flushQueued = true
    queueMicrotask(this.flushFn)
  }

  private flush(): void {
    this.flushQueued = false
    if (this.closed) return
    this.outbound.publish()
    this.engine.flush()
  }

  // ------------------------------------------------------------ receiving

  /** One call per batch of inbound records (the engine coalesces wake-ups). */
  private onSlow(hex: string, lag: number): void {
    const evicting = this.options.slowReceiver === 'evict'
    if (evicting) this.member.evict(hex)
    this.emit('slow', { member: this.member.idOf(hex) ?? hex, lag, evicting })
  }

  private onWake(session: number): void {
    if (this.closed || session !== this.session) return
    this.member.setNow(performance.now())
    this.inbound.armWake()
    for (let batch = this.inbound.take(); batch !== null; batch = this.inbound.take()) {
      if (this.inbound.takeBlocked()) this.engine.kick()
      this.dispatch(batch.bytes, batch.view)
      if (this.closed || session !== this.session) return
    }
    if (this.inbound.takeBlocked()) this.engine.kick()
    this.member.settle()
    if (this.pending.length > 0) this.pumpPending()
    // The sequencer's hop is every total message's: while it places them, it
    // stays awake a little after each receive, so the next one finds it so.
    const now = performance.now()
    if (this.member.placements !== this.placements) {
      this.placements = this.member.placements
      this.lastPlacedAt = now
    }
    const sequencing = this.lastPlacedAt > now - SEQUENCER_POLL_FOR_MS
    if (sequencing !== this.sequencerPolls) {
      this.sequencerPolls = sequencing
      this.engine.setBusyPoll(1000 * Math.max(this.options.busyPoll, sequencing ? SEQUENCER_POLL_US : 0))
    }
  }
  private sequencerPolls = false
  private placements = 0 // the member's, when last looked at
  private lastPlacedAt = -Infinity

  private dispatch(bytes: Uint8Array, view: DataView): void {
    const end = bytes.length
    const buffer = bytes.buffer
    const member = this.member
    let at = 0
    while (at < end) {
      const length = view.getUint32(at, true)
      const type = view.getUint16(at + 4, true)
      const flags = view.getUint16(at + 6, true)
      const body = at + 8
      at += (length + 7) & ~7
      if (type === RecordType.message) {
        const seq = view.getUint32(body, true) + view.getUint32(body + 4, true) * 4294967296
        member.onMessage(view.getUint32(body + 8, true), seq, view.getUint32(body + 12, true), flags & 0xf, flags >> 4, new Uint8Array(buffer, body + 16, length - 24))
      } else if (type === RecordType.peerUp) {
        const nameLength = view.getUint32(body + 4, true)
        const hex = view.getBigUint64(body + 8, true).toString(16).padStart(16, '0')
        const name = Buffer.from(bytes.buffer, bytes.byteOffset + body + 16, nameLength).toString('utf8')
        member.onPeerUp(view.getUint32(body, true), hex, name)
      } else if (type === RecordType.peerDown) {
        const reason = view.getUint32(body + 4, true)
        const hex = view.getBigUint64(body + 8, true).toString(16).padStart(16, '0')
        member.onPeerDown(view.getUint32(body, true), hex, reason === 1 ? 'left' : reason === 2 ? 'silent' : 'forgotten')
      } else if (type === RecordType.stable) {
        member.onStable(view.getUint32(body, true), view.getUint32(body + 8, true) + view.getUint32(body + 12, true) * 4294967296)
      } else if (type === RecordType.slow) {
        const hex = view.getBigUint64(body + 8, true).toString(16).padStart(16, '0')
        const lag = view.getUint32(body + 16, true) + view.getUint32(body + 20, true) * 4294967296
        this.onSlow(hex, lag)
      } else if (type === RecordType.control) {
        const hex = view.getBigUint64(body, true).toString(16).padStart(16, '0')
        member.onControl(hex, new Uint8Array(buffer, body + 8, length - 16))
      }
    }
  }
}

/** The membership protocol's retry interval (ms): a twentieth of the suspicion timeout, 5 to 100 ms. */
function retryOf(options: ResolvedOptions): number {
  return Math.max(5, Math.min(100, options.suspectTimeout / 20))
}

function networkOrder(hostOrder: number): number {
  return (((hostOrder & 0xff) << 24) | ((hostOrder & 0xff00) << 8) | ((hostOrder >>> 8) & 0xff00) | (hostOrder >>> 24)) >>> 0
}

function nextPowerOfTwo(n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}

/** What each counter in stats().counters means. */
export const counterDocs: Readonly<Record<string, string>> = Object.freeze(Object.fromEntries(addon.counters.map((c) => [c.name, c.doc])))
