// Group: join / send / leave / events, and the lifecycle of a member: one
// live incarnation at a time (live.ts: the native engine and the sans-IO
// member over it), a new one when the group excluded the last, closed for
// good by leave(). The send path (node/outbox.ts) outlives incarnations;
// what the member delivers goes through node/delivery.ts to handout.ts: the
// 'message' and 'batch' listeners and the iterators (inbox.ts). Bulk
// transfers and requests (rooms.ts) are built on the member as an application could be.
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'

import { checkOptions, iterationOptions, leaveOptions, rotationOptions, sendOrder, SYNC_KEYS, toBytes, type Data, type GroupEvents, type GroupStats, type LeaveOptions, type MessagesOptions, type SendOptions, type SyncOptions } from './api.js'
import { OrderCode, ROOM_BIT } from './boundary.js'
import { addon, counterIndex } from './engine.js'
import { AbortError, checkSignal, throwIfAborted, TroupeError, TroupeRangeError, within } from './errors.js'
import { Handout } from './handout.js'
import { Inboxes, type Inbox } from './inbox.js'
import { LiveMember, maxControlOf, networkOrder, retryOf } from './live.js'
import { RoomMessage, type Message, type View } from './message.js'
import { Delivery } from './node/delivery.js'
import { Discovery } from './discovery.js'
import { Fallback } from './fallback.js'
import { Outbox, type OutboxPort } from './node/outbox.js'
import { ipv4ToInt, resolveJoinOptions, validateGroupName, type JoinOptions, type ResolvedOptions } from './options.js'
import { Rooms } from './rooms.js'
import { Client, type ConnectOptions } from './clients/client.js'
import { wrapState } from './clients/room.js'
import type { RequestOptions, Responses } from './rpc/request.js'
import type { SubjectHandler, Subscription } from './subjects.js'
import type { Transfer, TransferSource } from './transfer/outgoing.js'
import type { TransferOptions } from './transfer/room.js'

const FIFO = OrderCode.fifo
const SYSTEM = OrderCode.system

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
    const signal = resolved.signal
    throwIfAborted(signal, `Group.join('${group}')`)
    const g = new Group(group, resolved)
    const limit = resolved.joinTimeout
    try {
      await within(g.joined, limit, () => new TroupeError('ERR_TROUPE_JOIN_TIMEOUT', `Group.join('${group}'): no view after ${limit} ms (joinTimeout): is the group's coordinator blocked (minority side)?`), signal, `Group.join('${group}')`)
    } catch (err) {
      g.shutdown()
      throw err
    }
    // Messages of the first view wait until the caller, resumed by this
    // promise, has had its turn to add its 'message' handler.
    setImmediate(() => g.releaseEarly())
    return g
  }

  /**
   * Connects to the group `name` as a client (an open group): a process that
   * sends to the group and makes requests to it without joining its view.
   * See clients/client.ts; the options are join()'s transport options and
   * connectTimeout.
   */
  static connect(name: string, options?: ConnectOptions): Promise<Client> {
    return Client.connect(name, options)
  }

  readonly name: string
  private readonly options: ResolvedOptions
  private readonly memberOptions: ResolvedOptions // (getState/setState with the clients' ledger)
  private readonly discovery: Discovery | null
  private gossipQueued = false
  private fallback: Fallback | null = null // transport 'auto': per incarnation
  private live!: LiveMember // the incarnation now (closed with the group)
  private readonly outbox: Outbox
  private readonly delivery: Delivery
  private isClosed = false
  private rejoins = 0
  private readonly ticker: NodeJS.Timeout
  private readonly joined: Promise<void>
  private onJoined: (() => void) | null = null
  private refuseJoin: ((err: Error) => void) | null = null
  private onLeft: (() => void) | null = null
  // Until the caller of join() has had its turn: the first view's messages,
  // and any view or merge after it (so that they keep their place among them).
  private early: (Message | (() => void))[] | null = []
  private readonly handout: Handout
  private readonly rooms: Rooms

  private constructor(name: string, options: ResolvedOptions) {
    super()
    this.name = name
    this.options = options
    this.key = options.key
    this.joined = new Promise((resolve, reject) => {
      this.onJoined = resolve
      this.refuseJoin = reject
    })
    this.closed = new Promise((resolve) => (this.onClosed = resolve))
    this.outbox = new Outbox(this.outboxPort(), { maxPayload: 0, maxPending: options.maxPending, orderedLimit: 2 * options.window }, () => this.live.member.causalHeader())
    this.delivery = new Delivery(this.outbox, options, (bytes) => crypto.getRandomValues(bytes))
    this.handout = new Handout(this, this.inboxes)
    const me = () => this.me
    const view = () => this.view
    this.rooms = new Rooms({
      transfers: {
        me, view,
        send: (message, head) => this.outbox.send(message, SYSTEM, head),
        maxRecord: () => this.outbox.config.maxPayload,
        maxMessage: () => options.maxMessageSize,
        incoming: (t) => this.emit('transfer', t),
        resume: () => {
          if (!this.isClosed) this.live.onWake()
        },
      },
      requests: {
        me, view,
        send: (message, code) => this.outbox.send(message, code),
        reply: (message, to) => {
          if (this.isClosed) return
          if (to !== null && this.rooms.clients.knows(to)) this.rooms.clients.reply(to, message)
          else if (to === null || !this.live.member.sendDirect(to, message)) this.outbox.send(message, SYSTEM)
        },
        handlers: () => this.listeners('request') as never,
        maxMessageSize: options.maxMessageSize,
      },
      clients: {
        me, view,
        accepting: () => !this.isClosed && this.leaving === null && options.receiveOwn && this.live.member.joined,
        send: (header, bytes, code) => {
          if (!this.isClosed) this.outbox.send(bytes, code, header)
        },
        control: (payload, hex) => {
          if (!this.isClosed) this.live.engine.control(payload, hex)
        },
        direct: (to, bytes) => !this.isClosed && this.live.member.sendDirect(to, bytes),
        hand: (msg) => this.hand(msg),
        now: () => performance.now(),
        retry: retryOf(options),
        maxControl: maxControlOf(options),
        maxMessageSize: options.maxMessageSize,
        sessionTimeout: Math.max(3000, 3 * options.suspectTimeout),
      },
    })
    this.rooms.subjects.onPatterns = (patterns) => {
      if (!this.isClosed) this.live.engine.setSubjects(patterns)
    }
    // udp-unicast: members found by DNS, a file or a function, and told of by each other.
    this.discovery = options.transport === 'udp-unicast' || (options.transport === 'auto' && (options.peers.length > 0 || options.discover !== null))
      ? new Discovery(options.discover, options, (addresses) => {
        if (!this.isClosed) this.live.engine.addPeers(flatAddresses(addresses))
      }, () => this.gossip())
      : null
    // A joiner receives the clients' ledger with the application's state (clients/room.ts).
    this.memberOptions = { ...options, ...wrapState(this.rooms.clients.ledger, options) }
    this.open()
    this.discovery?.start()
    // The membership's retries and timeouts. Heartbeats do not depend on it
    // (the native I/O thread sends them), so a busy loop delays views, never
    // causes suspicion.
    this.ticker = setInterval(() => this.tick(), Math.max(2, Math.min(20, retryOf(options) / 2)))
    this.ticker.unref()
    setImmediate(() => this.tick()) // ask to join at once
  }

  /** This member's id: its name and a random incarnation, `name#0123456789abcdef`. Changes if the member has to rejoin. */
  get me(): string {
    return this.live.id
  }

  /** The current view. */
  get view(): View {
    return this.live.member.currentView ?? { id: 0, members: [], coordinator: '' }
  }

  /**
   * Multicasts `data` to the group. The bytes are copied before send()
   * returns, so the caller may reuse its buffer. Returns false when the
   * flow-control window is full: the message is queued (not lost) and
   * 'drain' is emitted when sending may go on (the Node Writable convention).
   * During a view change messages wait in the ring and go out in the new view.
   * With a `subject`, it goes to the matching subscriptions (subscribe()).
   */
  send(data: Data, options?: SendOptions): boolean {
    const bytes = data instanceof Uint8Array ? data : toBytes(data)
    let order = options === undefined ? FIFO : sendOrder(options)
    if (this.isClosed) throw new TroupeError('ERR_TROUPE_CLOSED', `send(): the group '${this.name}' was left`)
    let room: Uint8Array | undefined
    if (options?.subject !== undefined) {
      room = this.rooms.subjects.header(options.subject)
      order |= ROOM_BIT
    }
    const size = bytes.length + (room?.length ?? 0)
    if (size > this.options.maxMessageSize) {
      throw new TroupeRangeError('ERR_TROUPE_MESSAGE_TOO_LARGE', `send(): a message of ${size} bytes${room ? ' (with its subject)' : ''} is larger than maxMessageSize (${this.options.maxMessageSize})`)
    }
    return this.outbox.send(bytes, order, room)
  }

  /**
   * Calls `handler` with every message sent with a subject that `pattern`
   * matches, from now on, in delivery order: tokens separated by dots, `*`
   * one token, `>` (last) one or more (`md.EUR.*`, `md.>`). Subjects
   * starting with `$` are the library's own: only a pattern naming that first
   * token matches them. Without a handler the subscription is an async
   * iterator (`for await (const msg of group.subscribe('md.>'))`), with the
   * backpressure of messages() (its options).
   */
  subscribe(pattern: string, handler?: SubjectHandler | MessagesOptions): Subscription {
    if (this.isClosed) throw new TroupeError('ERR_TROUPE_CLOSED', `subscribe(): the group '${this.name}' was left`)
    if (typeof handler === 'function') return this.rooms.subjects.subscribe(pattern, handler)
    const { highWaterMark, signal } = iterationOptions('subscribe()', handler)
    let inbox: Inbox | null = null
    const sub = this.rooms.subjects.subscribe(pattern, (m) => inbox!.push(m))
    inbox = sub.inbox = this.inboxes.addFed(highWaterMark, signal, () => sub.unsubscribe())
    return sub
  }

  /**
   * A barrier: sends a 'sync' message and resolves once it is delivered here.
   * Every member delivers it after the same set of messages (everything sent
   * before it) and before everything sent after it.
   */
  async sync(options?: SyncOptions): Promise<void> {
    if (options !== undefined) checkOptions('sync()', options, SYNC_KEYS)
    const signal = checkSignal('option signal of sync()', options?.signal)
    throwIfAborted(signal, 'sync()')
    if (this.isClosed) throw new TroupeError('ERR_TROUPE_CLOSED', `sync(): the group '${this.name}' was left`)
    const barrier = this.delivery.barrier()
    if (!signal) return barrier.done
    let onAbort: (() => void) | undefined
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        barrier.cancel()
        reject(new AbortError('sync() was aborted', { cause: signal.reason }))
      }
      signal.addEventListener('abort', onAbort, { once: true })
    })
    try {
      await Promise.race([barrier.done, aborted])
    } finally {
      signal.removeEventListener('abort', onAbort!)
    }
  }

  /**
   * The messages delivered from now on, as an async iterator (`for await
   * (const msg of group.messages())`; `for await (const msg of group)` is the
   * same with the defaults). With real backpressure: when the loop falls
   * `highWaterMark` messages behind, this member stops receiving until it
   * catches up (the kernel buffers, and the senders' flow-control windows
   * hold the group back, as a slow 'message' handler would): memory stays
   * bounded and nothing is lost. 'message' listeners, if any, get the same
   * messages, at the pace of the slowest consumer. The iteration ends after
   * a break, when `signal` aborts, or when the group is left.
   */
  messages(options?: MessagesOptions): AsyncIterableIterator<Message> {
    const { highWaterMark, signal } = iterationOptions('messages()', options)
    return this.inboxes.add(highWaterMark, signal, this.isClosed)
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Message> {
    return this.messages()
  }

  /**
   * Moves one object (bytes, a Readable, or a file's path) to `to` (member
   * ids of the current view; default: everyone else), streamed: neither side
   * ever holds the whole of it. Each receiver gets a 'transfer' event with a
   * Readable of the bytes, which ends once the length and CRC-32C matched.
   * The result resolves when every receiver holds it, or rejects with a
   * TransferError naming who does not (a receiver that left or crashed: the
   * others still get all of it). 'progress' on the result and on each
   * receiver's stream. See transfer/room.ts for what a view change does.
   */
  transfer(source: TransferSource, options?: TransferOptions): Transfer {
    if (this.isClosed) throw new TroupeError('ERR_TROUPE_CLOSED', `transfer(): the group '${this.name}' was left`)
    return this.rooms.transfers.start(source, options)
  }

  /**
   * Asks the other members of the current view and resolves with their
   * answers ('request' listeners), as many as `responses` asks for (default
   * all). View-aware: a member that leaves or crashes before it answers is
   * named in `left` of the result at the view without it, and the request
   * resolves then if no one else is to answer; a handler that failed is in
   * `failed`. Rejects with ERR_TROUPE_REQUEST_TIMEOUT after `timeout`.
   */
  request(data: Data, options?: RequestOptions): Promise<Responses> {
    if (this.isClosed) return Promise.reject(new TroupeError('ERR_TROUPE_CLOSED', `request(): the group '${this.name}' was left`))
    try {
      return this.rooms.requests.ask(data, options)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** `await using group = await Group.join(...)`: leaves the group at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.leave()
  }

  /** Resolves once this member is closed: after leave(), or when it stopped on an error (emitted as 'error'). */
  readonly closed: Promise<void>
  private onClosed!: () => void

  private readonly inboxes = new Inboxes(() => this.live.onWake())

  /**
   * Closed groups: seal with `key` from now on, and still accept the old key
   * for `graceMs` (default 10 s). Call it on every member within that time:
   * datagrams a member cannot open yet are repaired by retransmission once it
   * has the new key; a member still without it when the grace ends is cut off.
   */
  rotateKey(key: Uint8Array, options: { graceMs?: number } = {}): void {
    if (!this.key) throw new TroupeError('ERR_TROUPE_UNSUPPORTED', 'rotateKey() needs a closed group (join with option key)')
    const graceMs = rotationOptions(key, options)
    this.key = Uint8Array.from(key)
    if (!this.isClosed) this.live.engine.rekey(this.key, graceMs)
  }
  private key: Uint8Array | null = null

  /** Counters and queue sizes, for monitoring and tests. */
  stats(): GroupStats {
    const { member, counters: words, engine } = this.live
    const counters: Record<string, number> = {}
    for (const [name, i] of Object.entries(counterIndex)) counters[name] = Number(words[i])
    return {
      me: this.me,
      view: this.view,
      counters,
      pendingBytes: this.outbox.pendingBytes,
      pendingMessages: this.outbox.pendingMessages,
      orderedBytes: this.outbox.orderedBytes,
      heldBack: member.heldBack,
      reassemblyBytes: counters.assemblyBytes ?? 0,
      reassemblyDropped: counters.assemblyDropped ?? 0,
      controlRejected: member.controlRejected,
      viewDropped: member.messagesDropped,
      rejoins: this.rejoins,
      transfers: { ...this.rooms.transfers.counts, dropped: this.rooms.transfers.dropped },
      requests: { waiting: this.rooms.requests.waiting, dropped: this.rooms.requests.dropped, overheard: this.rooms.requests.overheard },
      subjects: { subscriptions: this.rooms.subjects.subscriptions, unmatched: this.rooms.subjects.unmatched, skipped: counters.subjectsSkipped ?? 0, dropped: this.rooms.subjects.dropped },
      ...(this.discovery ? { discovery: { ...this.discovery.stats, known: this.discovery.addresses.length } } : {}),
      ...(this.fallback ? { routes: this.routes(member) } : {}),
      clients: { served: this.rooms.clients.served, ledger: this.rooms.clients.ledger.size, duplicates: this.rooms.clients.duplicates, dropped: this.rooms.clients.dropped },
      members: this.isClosed ? [] : engine.lags().map((l) => ({
        member: member.idOf(l.id) ?? l.id,
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
  async leave(options?: LeaveOptions | number): Promise<void> {
    const { timeoutMs, signal } = leaveOptions(options)
    if (this.isClosed) return
    if (signal?.aborted) {
      this.shutdown()
      throwIfAborted(signal, 'leave()')
    }
    if (!signal) return this.leaveGracefully(timeoutMs)
    let onAbort: (() => void) | undefined
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        this.shutdown()
        reject(new AbortError('leave() was aborted: the member closed at once', { cause: signal.reason }))
      }
      signal.addEventListener('abort', onAbort, { once: true })
    })
    try {
      await Promise.race([this.leaveGracefully(timeoutMs), aborted])
    } finally {
      signal.removeEventListener('abort', onAbort!)
    }
  }

  /** One graceful leave at a time: a second leave() meanwhile waits for the first. */
  private leaveGracefully(timeoutMs: number): Promise<void> {
    this.leaving ??= this.leaveOnce(timeoutMs)
    return this.leaving
  }
  private leaving: Promise<void> | null = null

  private async leaveOnce(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs
    if (!this.outbox.idle) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, timeoutMs)
        function done() {
          clearTimeout(timer)
          resolve()
        }
        this.once('drain', done)
      })
    }
    this.live.flush()
    // Direct messages (replies) on their way: acknowledged before we go, within the time left.
    // (And what we forward to our clients, who move to another member once they have it.)
    this.rooms.clients.farewell()
    while (!(this.live.member.directIdle && this.rooms.clients.idle) && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2))
    if (this.live.member.joined && this.view.members.length > 1) {
      await new Promise<void>((resolve) => {
        // (Not unref'd: an awaited leave() keeps the process alive until it is done, or this bound.)
        const timer = setTimeout(resolve, Math.max(0, deadline - performance.now()) + 2 * this.options.suspectTimeout)
        this.onLeft = () => {
          clearTimeout(timer)
          resolve()
        }
        this.live.member.leave()
      })
    }
    this.shutdown()
  }

  // ------------------------------------------------------------ the live member

  /** Opens a new incarnation: engine, rings and member runtime. */
  private open(): void {
    const live: LiveMember = new LiveMember(this.name, this.memberOptions, this.key, this.outbox, {
      deliver: (delivered: Message) => {
        const msg = this.delivery.take(delivered, live.id)
        if (msg === null) return
        if (this.early) this.early.push(msg)
        else this.hand(msg)
      },
      view: (view: View) => this.inOrder(() => {
        this.rooms.onView(view)
        this.emit('view', view)
      }),
      system: (sender, data) => this.rooms.onSystem(sender, data),
      direct: (sender, data) => this.rooms.onDirect(sender, data),
      client: (hex, payload) => this.rooms.clients.onControl(hex, payload),
      heard: () => this.gossipSoon(),
      peers: (addresses) => this.discovery?.learned(addresses),
      via: (hex, unicast) => this.fallback?.onAsk(hex, unicast),
      ownStable: (seq) => this.rooms.clients.onStable(seq),
      ready: () => {
        if (this.onJoined) {
          this.onJoined()
          this.onJoined = null
          this.refuseJoin = null
        }
      },
      blocked: (blocked: boolean, reason: string) => this.emit('blocked', { blocked, reason }),
      merge: (view: View, sides: string[][]) => this.inOrder(() => this.emit('merge', { view, sides })),
      excluded: (reason: string) => queueMicrotask(() => this.rejoin(live, reason)),
      left: () => this.onLeft?.(),
      refused: (holder: string) => this.nameRefused(holder),
      slow: (e) => this.emit('slow', e),
      stopped: () => this.inboxes.held || this.rooms.transfers.held,
      beginBatch: () => {
        const fast = this.handout.begin()
        // (Until join() has resolved messages are held: they go through deliver().)
        if (this.early === null) live.member.takeFast(fast.sink, fast.inPlace)
      },
      endBatch: () => {
        live.member.takeFast(null, false)
        this.handout.end()
      },
    })
    live.member.takeRooms(this.rooms.subjects) // (subjects on the common path, while it is taken)
    // The engine drops fifo and unordered subject messages that no subscription here wants.
    live.engine.setSubjects(this.rooms.subjects.patterns)
    if (this.discovery) live.engine.addPeers(flatAddresses(this.discovery.addresses)) // (a new incarnation: what the last one found)
    this.fallback = this.options.transport === 'auto' ? new Fallback({
      peers: () => live.engine.lags().map((l) => ({ id: l.id, silentMs: l.silentMs, multicastSilentMs: l.multicastSilentMs })),
      selfSilentMs: () => live.engine.ownMulticastSilentMs(),
      self: live.id.slice(-16),
      ask: (hex, unicast) => live.member.askVia(hex, unicast),
      setUnicast: (hex, on) => live.engine.setUnicast(hex, on),
      route: (hex, direction, unicast) => this.emit('route', { member: live.member.idOf(hex) ?? hex, direction, via: unicast ? 'unicast' : 'multicast' }),
      now: () => performance.now(),
    }, this.options.fallbackTimeout, this.options.suspectTimeout) : null
    this.live = live
  }

  /**
   * The coordinator does not admit us: a live member has our name. A process
   * restarted under its old name gets in once its old incarnation is
   * suspected (within suspectTimeout), so join() fails only when the refusals
   * go on for twice that.
   */
  private nameRefused(holder: string): void {
    const now = performance.now()
    if (now - this.lastRefusal > 10 * retryOf(this.options)) this.refusedSince = now
    this.lastRefusal = now
    if (!this.refuseJoin || now - this.refusedSince < 2 * this.options.suspectTimeout) return
    this.refuseJoin(new TroupeError('ERR_TROUPE_NAME_TAKEN', `Group.join('${this.name}'): the name '${this.options.name}' is taken by ${holder}, a live member of the group (names are unique among members; leave out option name for a unique default)`))
    this.refuseJoin = null
  }
  private refusedSince = 0
  private lastRefusal = -Infinity

  /** Excluded from the view: close this incarnation and join again as a new one. */
  private rejoin(from: LiveMember, reason: string): void {
    if (this.isClosed || from !== this.live) return
    from.close()
    this.rooms.rejoining(reason)
    this.rejoins++
    try {
      this.open()
    } catch (err) {
      this.shutdown(err as Error)
      this.emit('error', err as Error)
      return
    }
    // After open(): group.me is already the new incarnation's id.
    this.emit('rejoining', reason)
  }

  private releaseEarly(): void {
    const early = this.early
    this.early = null
    if (!early || this.isClosed) return
    this.handout.begin()
    for (const x of early) {
      if (typeof x === 'function') x()
      else this.hand(x)
    }
    this.handout.end()
  }

  /** A view or merge event now, or after the messages held until join() has resolved. */
  private inOrder(event: () => void): void {
    if (this.early !== null && this.onJoined === null) this.early.push(event)
    else event()
  }

  /** A delivered message to the application, or to its room. */
  private hand(msg: Message): void {
    if (msg instanceof RoomMessage) this.rooms.onMessage(msg)
    else this.handout.hand(msg)
  }

  /** transport 'auto': members that reach us by unicast (we asked), members we reach by unicast (they asked), as ids; our own datagrams come back by unicast. */
  private routes(member: LiveMember['member']): { unicastIn: string[]; unicastOut: string[]; ownByUnicast: boolean } {
    const r = this.fallback!.routes
    const id = (hex: string) => member.idOf(hex) ?? hex
    return { unicastIn: r.unicastIn.map(id), unicastOut: r.unicastOut.map(id), ownByUnicast: this.fallback!.ownByUnicast }
  }

  /** udp-unicast: a new sender was heard; tell the group what we know, once this turn's others are in. */
  private gossipSoon(): void {
    if (!this.discovery || this.gossipQueued) return
    this.gossipQueued = true
    setTimeout(() => {
      this.gossipQueued = false
      this.gossip()
    }, 20).unref()
  }

  /** Tells the group the addresses we know: ours, our peers', what discovery found. */
  private gossip(): void {
    if (this.isClosed || !this.discovery) return
    const info = this.live.engine.info
    const addresses = new Set<string>(info ? [`${info.localAddress}:${info.localPort}`] : [])
    for (const l of this.live.engine.lags()) if (l.address) addresses.add(l.address)
    for (const a of this.discovery.addresses) addresses.add(a)
    this.live.member.gossip([...addresses].slice(0, 256))
  }

  private tick(): void {
    if (this.isClosed) return
    this.live.tick()
    this.rooms.clients.tick()
    this.fallback?.tick()
  }

  /** Closes the member for good: after leave(), a failed join, or `error` (which ends the iterators with it). */
  private shutdown(error: Error | null = null): void {
    if (this.isClosed) return
    this.isClosed = true
    clearInterval(this.ticker)
    this.discovery?.stop()
    this.live?.close() // (none when the first open() threw)
    this.inboxes.finishAll(error)
    this.rooms.close(this.name, error)
    this.delivery.failBarriers(new TroupeError('ERR_TROUPE_CLOSED', `sync(): the group '${this.name}' was left before the barrier was delivered`))
    this.onClosed()
  }

  /** How the outbox writes into the live incarnation's outbound ring. */
  private outboxPort(): OutboxPort {
    return {
      write: (data, start, end, order, frag, prefix) => this.live.write(data, start, end, order, frag, prefix),
      waitForSpace: (bytes) => this.live.waitForSpace(bytes),
      later: (pump) => queueMicrotask(() => {
        if (!this.isClosed) pump()
      }),
      drained: () => {
        this.rooms.transfers.drained()
        this.emit('drain')
      },
    }
  }
}

/** 'ip:port' addresses as the engine takes them: flat (ip in network byte order, port) pairs. */
function flatAddresses(addresses: readonly string[]): number[] {
  return addresses.flatMap((a) => {
    const i = a.lastIndexOf(':')
    return [networkOrder(ipv4ToInt(a.slice(0, i))), Number(a.slice(i + 1))]
  })
}

/** What each counter in stats().counters means. */
export const counterDocs: Readonly<Record<string, string>> = Object.freeze(Object.fromEntries(addon.counters.map((c) => [c.name, c.doc])))
