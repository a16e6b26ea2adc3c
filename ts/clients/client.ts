// Open groups, the client's side: Group.connect() returns a Client, a process
// that sends to a group and asks it without being in its view (no state
// transfer, no flush waits for it). Its engine (live.ts openEngine, in client
// mode) sends and receives CONTROL datagrams only, from a socket of its own:
// it takes part in no stream, sends no heartbeat and reads none of the
// group's traffic.
//
// It asks every member (HELLO, multicast or to each of `peers`) and talks to
// the first that welcomes it, over a session (clients/wire.ts): reliable and
// in order (node/direct.ts). Each message has a seq of the client's; it is
// kept until its member says every member holds it (HELD). If the member
// falls silent for suspectTimeout, the client says HELLO again, avoids that
// member for a while, and sends everything not yet held again through the
// next one; members drop what they delivered before (clients/room.ts), so
// each message is delivered once, in the order asked. The member sends the
// client its views, which the client's requests follow (rpc/room.ts, the same
// room members use).
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'

import { sendOrder, toBytes, type Data, type SendOptions } from '../api.js'
import { OrderCode, ROOM_BIT } from '../boundary.js'
import { argType, throwIfAborted, TroupeError, TroupeRangeError, within } from '../errors.js'
import { openEngine, maxControlOf, retryOf, type LiveEngine } from '../live.js'
import type { View } from '../message.js'
import { Direct } from '../node/direct.js'
import { plainShell, readRecords, type RecordShell, type RecordTarget } from '../node/records.js'
import { checkKeys, resolveJoinOptions, validateGroupName, type JoinOptions, type ResolvedOptions } from '../options.js'
import type { RequestOptions, Responses } from '../rpc/request.js'
import { Requests } from '../rpc/room.js'
import { Subjects } from '../subjects.js'
import { decodeClientControl, decodeSession, encodeClientControl, encodeSession, sessionControl, type SessionMessage } from './wire.js'

/**
 * Messages, and their bytes, not yet held before send() returns false (they
 * are still queued: wait for 'drain'). A message is held once its member's
 * stream is stable there (a STATUS round, ~10 ms): 1,024 messages a round
 * held one client to 75-83 k msgs/s here, 8,192 gave 113-115 k (one
 * sitting, 2026-12-04, `troupe bench --app`). The bytes as a member's
 * default window: large messages stop at 2 MiB, not 8,192 of them.
 */
const WINDOW = 8192
const WINDOW_BYTES = 2 * 1024 * 1024
const PEER = 'member' // (the session's key in the Direct channel: there is one at a time)

export interface ConnectOptions extends Pick<JoinOptions,
  'address' | 'port' | 'interface' | 'name' | 'ttl' | 'datagramSize' | 'suspectTimeout' | 'receiveBuffer' | 'sendBuffer' | 'inject' | 'transport' | 'peers' | 'key' | 'maxPending' | 'signal'> {
  /** How long connect() waits for a member to welcome the client (ms). Default 10 s. */
  connectTimeout?: number
}
export const CONNECT_KEYS = [
  'address', 'port', 'interface', 'name', 'ttl', 'datagramSize', 'suspectTimeout', 'receiveBuffer', 'sendBuffer', 'inject', 'transport', 'peers', 'key', 'maxPending', 'signal', 'connectTimeout',
] as const

export interface ClientEvents {
  /** The group's view, as the client's member tells it. */
  view: [view: View]
  /** The client talks through this member from now on (at connect, and after its member failed). */
  member: [info: { member: string; previous: string | null }]
  /** send() returned false before: the client's queue of messages not yet held is short again. */
  drain: []
}

export interface ClientStats {
  me: string
  view: View
  /** The member the client talks through (null while it looks for one). */
  member: string | null
  /** Messages sent and not yet held by every member; their bytes. */
  pendingMessages: number
  pendingBytes: number
  /** Times the client's member failed and it moved to another. */
  reconnects: number
  /** Messages sent again through a new member. */
  resent: number
  /** CONTROL payloads dropped as malformed or out of place. */
  dropped: number
  requests: { waiting: number; dropped: number }
}

interface Pending {
  code: number
  bytes: Uint8Array
}

export class Client extends EventEmitter<ClientEvents> {
  /**
   * Connects to the group `name` as a client: resolves once a member has
   * welcomed it (within connectTimeout). The transport options are those of
   * Group.join() (address, port, transport, peers, key, ...): the same as the
   * members'.
   */
  static async connect(name: string, options?: ConnectOptions): Promise<Client> {
    const group = validateGroupName(name)
    const resolved = resolveConnectOptions(group, options)
    const signal = resolved.options.signal
    throwIfAborted(signal, `Group.connect('${group}')`)
    const client = new Client(group, resolved.options)
    const limit = resolved.connectTimeout
    try {
      await within(client.connected, limit, () => new TroupeError('ERR_TROUPE_CONNECT_TIMEOUT', `Group.connect('${group}'): no member welcomed the client within ${limit} ms (connectTimeout): is the group running, on this address and port (and key)?`), signal, `Group.connect('${group}')`)
    } catch (err) {
      client.shutdown()
      throw err
    }
    return client
  }

  readonly name: string
  private readonly engine: LiveEngine
  private readonly options: ResolvedOptions
  private readonly requests: Requests
  private readonly subjects = new Subjects() // (their headers)
  private readonly ticker: NodeJS.Timeout
  private readonly connected: Promise<void>
  private onConnected: (() => void) | null = null
  private isClosed = false
  private closing: Promise<void> | null = null

  private member: { hex: string; id: string; session: number } | null = null
  private formerMember: string | null = null // the member before, while the client looks for the next
  // The session with the member before, for a while: a member that leaves
  // still forwards what was on its way to the client (replies, HELD).
  private draining: { hex: string; session: number; link: Direct; until: number } | null = null
  private link: Direct | null = null
  private currentView: View = { id: 0, members: [], coordinator: '' }
  private maxMessage = 0
  private readonly avoid = new Map<string, number>() // members that failed us: until when (ms)
  private helloAt = -Infinity
  private heardAt = 0
  private sentAt = 0

  private nextSeq = 0
  private readonly pending = new Map<number, Pending>() // seq → message, until held
  private pendingBytes = 0
  private needDrain = false
  private readonly idle: (() => void)[] = []
  private reconnects = 0
  private resent = 0
  private dropped = 0

  private constructor(name: string, options: ResolvedOptions) {
    super()
    this.name = name
    this.options = options
    this.connected = new Promise((resolve) => (this.onConnected = resolve))
    this.engine = openEngine(name, options, options.key, () => this.onWake(), true)
    const client = this
    this.requests = new Requests({
      me: () => this.me,
      view: () => this.currentView,
      send: (message, code) => {
        this.enqueue(code, message)
      },
      reply: () => {}, // (a client is asked nothing)
      handlers: () => [],
      get maxMessageSize() {
        return client.maxMessage
      },
    })
    this.ticker = setInterval(() => this.tick(), Math.max(5, Math.min(100, options.suspectTimeout / 10)))
    this.ticker.unref()
    setImmediate(() => this.tick()) // HELLO at once
  }

  /** The client's id: its name and a random incarnation, `name#0123456789abcdef` (members see it as msg.sender). */
  get me(): string {
    return `${this.options.name}#${this.engine.self}`
  }

  /** The group's view, as the client's member told it last. */
  get view(): View {
    return this.currentView
  }

  /**
   * Sends `data` to the group, in the order asked (default fifo: the
   * client's messages in the order it sent them), or with a `subject`. Every
   * member delivers it once, as a message from this client. The bytes are
   * copied. Returns false when WINDOW messages (or WINDOW_BYTES) are not yet held by the group:
   * the message is queued all the same; wait for 'drain'. Past maxPending
   * bytes it throws ERR_TROUPE_BACKPRESSURE.
   */
  send(data: Data, options?: SendOptions): boolean {
    const bytes = data instanceof Uint8Array ? data : toBytes(data)
    let code = options === undefined ? OrderCode.fifo : sendOrder(options)
    if (this.isClosed || this.closing) throw new TroupeError('ERR_TROUPE_CLOSED', `send(): the client of '${this.name}' was closed`)
    let message = bytes
    if (options?.subject !== undefined) {
      message = this.subjects.frame(options.subject, bytes)
      code |= ROOM_BIT
    }
    if (message.length > this.maxMessage) {
      throw new TroupeRangeError('ERR_TROUPE_MESSAGE_TOO_LARGE', `send(): a client's message of ${message.length} bytes${options?.subject !== undefined ? ' (with its subject)' : ''} is larger than the group takes from a client (at most ${this.maxMessage} bytes: 1 MiB, or the members' maxMessageSize if smaller)`)
    }
    return this.enqueue(code, message)
  }

  /**
   * Asks the members of the view (or those `to` names) and resolves with
   * their answers, as Group's request() does (view-aware: a member that
   * fails before it answers is named in `left`). A reply must fit one datagram.
   */
  request(data: Data, options?: RequestOptions): Promise<Responses> {
    if (this.isClosed || this.closing) return Promise.reject(new TroupeError('ERR_TROUPE_CLOSED', `request(): the client of '${this.name}' was closed`))
    try {
      return this.requests.ask(data, options)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Waits (up to `timeoutMs`, default 10 s) until every member holds what the
   * client sent, says goodbye to its member and closes the socket.
   */
  close(options?: { timeoutMs?: number }): Promise<void> {
    if (options !== undefined) checkKeys('close()', options, ['timeoutMs'])
    const timeoutMs = options?.timeoutMs ?? 10_000
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) throw argType('option timeoutMs of close()', 'a number of ms ≥ 0', timeoutMs)
    if (this.isClosed) return Promise.resolve()
    this.closing ??= (async () => {
      if (this.pending.size > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeoutMs)
          this.idle.push(() => {
            clearTimeout(timer)
            resolve()
          })
        })
      }
      if (this.member) this.engine.engine.control(encodeClientControl({ kind: 'bye', session: this.member.session }), this.member.hex)
      this.shutdown()
    })()
    return this.closing
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  stats(): ClientStats {
    return {
      me: this.me,
      view: this.currentView,
      member: this.member?.id ?? null,
      pendingMessages: this.pending.size,
      pendingBytes: this.pendingBytes,
      reconnects: this.reconnects,
      resent: this.resent,
      dropped: this.dropped,
      requests: { waiting: this.requests.waiting, dropped: this.requests.dropped },
    }
  }

  // ------------------------------------------------------------ sending

  private enqueue(code: number, message: Uint8Array): boolean {
    if (this.pendingBytes + message.length > this.options.maxPending) {
      throw new TroupeError('ERR_TROUPE_BACKPRESSURE', `send(): the client's queue holds ${this.pendingBytes} bytes not yet held by the group (maxPending ${this.options.maxPending}); wait for 'drain'`)
    }
    const seq = ++this.nextSeq
    const bytes = message.slice()
    this.pending.set(seq, { code, bytes })
    this.pendingBytes += bytes.length
    if (this.link) this.transmit(seq, code, bytes)
    if (this.pending.size < WINDOW && this.pendingBytes < WINDOW_BYTES) return true
    this.needDrain = true
    return false
  }

  /** A message to our member (past one datagram, the session sends it in pieces). */
  private transmit(seq: number, code: number, bytes: Uint8Array): void {
    this.link!.send(PEER, encodeSession({ type: 'send', code, seq, bytes }))
    this.sentAt = performance.now()
  }

  /** Every member holds our messages up to `seq`. */
  private held(seq: number): void {
    for (const [s, p] of this.pending) {
      if (s > seq) break // (in seq order: inserted so)
      this.pending.delete(s)
      this.pendingBytes -= p.bytes.length
    }
    if (this.needDrain && this.pending.size <= WINDOW / 2 && this.pendingBytes <= WINDOW_BYTES / 2) {
      this.needDrain = false
      this.emit('drain')
    }
    if (this.pending.size === 0) for (const done of this.idle.splice(0)) done()
  }

  // ------------------------------------------------------------ the member

  private onWake(): void {
    if (this.isClosed) return
    const { inbound, engine } = this.engine
    inbound.armWake()
    for (let batch = inbound.take(); batch !== null; batch = inbound.take()) {
      if (inbound.takeBlocked()) engine.kick()
      readRecords(batch.bytes, batch.view, 0, batch.bytes.length, this.records, this.shell)
      if (this.isClosed) return
    }
    if (inbound.takeBlocked()) engine.kick()
  }

  private readonly records: RecordTarget = {
    onMessage: () => {},
    onPeerUp: () => {},
    onPeerDown: () => {},
    onStable: () => {},
    onControl: (hex, payload) => this.onControl(hex, payload),
    onSkipped: () => {},
    onAssembled: () => {},
  }
  /** (A client takes part in no stream: no message is put together for it.) */
  private readonly shell: RecordShell = plainShell(null)

  private onControl(hex: string, payload: Uint8Array): void {
    const c = decodeClientControl(payload)
    if (c === null) {
      this.dropped++
      return
    }
    const now = performance.now()
    if (c.kind === 'welcome') {
      const id = c.members.find((m) => m.endsWith(`#${hex}`))
      if (this.member !== null || id === undefined || (this.avoid.get(id) ?? 0) > now) return
      this.maxMessage = c.maxMessage
      this.onView(c.view, c.members)
      this.adopt(hex, id, now)
      return
    }
    if (c.kind === 'hello') return
    const m = this.member
    const d = this.draining
    if (m !== null && hex === m.hex && c.session === m.session) {
      this.heardAt = now
      if (c.kind === 'bye') this.moveOn(now) // (our member leaves)
      else if (c.kind === 'data') this.link!.onDirect(PEER, c.parts)
      else this.link!.onAck(PEER, c.seq)
    } else if (d !== null && hex === d.hex && c.session === d.session && c.kind === 'data') {
      d.link.onDirect(PEER, c.parts) // (what the member before still forwards: replies, HELD)
    }
  }

  /** Talks through member `id` from now on: a new session, and everything not yet held sent again. */
  private adopt(hex: string, id: string, now: number): void {
    const previous = this.formerMember
    const session = (crypto.getRandomValues(new Uint32Array(1))[0]! >>> 0) || 1
    this.member = { hex, id, session }
    this.heardAt = now
    this.link = new Direct({
      send: (c, _to) => {
        if (this.isClosed) return
        this.engine.engine.control(sessionControl(c, session), hex)
      },
      deliver: (_from, bytes) => this.onSession(bytes),
      now: () => performance.now(),
      later: (flush) => queueMicrotask(flush),
      retry: retryOf(this.options),
      maxControl: maxControlOf(this.options) - 4,
    })
    this.link.send(PEER, encodeSession({ type: 'open', name: this.options.name, previous }))
    for (const [seq, p] of this.pending) {
      this.transmit(seq, p.code, p.bytes)
      if (previous !== null) this.resent++
    }
    this.sentAt = now
    this.emit('member', { member: id, previous })
    this.onConnected?.()
    this.onConnected = null
  }

  /** Our member is gone: look for another one, which gets everything not yet held. */
  private moveOn(now: number): void {
    const m = this.member!
    this.avoid.set(m.id, now + 4 * this.options.suspectTimeout)
    this.draining = { hex: m.hex, session: m.session, link: this.link!, until: now + 4 * this.options.suspectTimeout }
    this.formerMember = m.id
    this.member = null
    this.link = null
    this.reconnects++
    this.helloAt = -Infinity
    this.tick()
  }

  private onSession(bytes: Uint8Array): void {
    const m: SessionMessage | null = decodeSession(bytes)
    if (m === null) this.dropped++
    else if (m.type === 'view') this.onView(m.view, m.members)
    else if (m.type === 'held') this.held(m.seq)
    else if (m.type === 'reply') this.requests.onReply(m.responder, m.bytes)
    else this.dropped++ // (a client's message type, from a member)
  }

  private onView(id: number, members: string[]): void {
    const v = this.currentView
    if (id < v.id || (id === v.id && members.length === v.members.length && members.every((x, i) => x === v.members[i]))) return
    this.currentView = { id, members, coordinator: members[0]! }
    this.requests.onView(this.currentView)
    this.emit('view', this.currentView)
  }

  private tick(): void {
    if (this.isClosed) return
    const now = performance.now()
    if (this.draining !== null && now > this.draining.until) this.draining = null
    const timeout = this.options.suspectTimeout
    if (this.member !== null && now - this.heardAt > timeout) this.moveOn(now) // (our member fell silent)
    if (this.member === null) {
      if (now - this.helloAt >= retryOf(this.options) * 4) {
        this.helloAt = now
        for (const [id, until] of this.avoid) if (until <= now) this.avoid.delete(id)
        this.engine.engine.control(encodeClientControl({ kind: 'hello', name: this.options.name }), null)
      }
      return
    }
    if (now - this.sentAt > timeout / 4) {
      this.link!.send(PEER, encodeSession({ type: 'ping' }))
      this.sentAt = now
    }
    this.link!.tick()
  }

  private shutdown(): void {
    if (this.isClosed) return
    this.isClosed = true
    clearInterval(this.ticker)
    this.engine.engine.close()
    this.requests.close(new TroupeError('ERR_TROUPE_CLOSED', `request(): the client of '${this.name}' was closed before the answers came`), true)
    for (const done of this.idle.splice(0)) done()
  }
}

/** Group.connect()'s options: those of join() that say where the group is and how to reach it, and connectTimeout. */
function resolveConnectOptions(group: string, options: unknown): { options: ResolvedOptions; connectTimeout: number } {
  if (options === undefined) options = {}
  if (typeof options !== 'object' || options === null) throw argType('the options of Group.connect()', 'an object', options)
  checkKeys('Group.connect()', options, CONNECT_KEYS)
  const { connectTimeout = 10_000, ...rest } = options as ConnectOptions
  if (typeof connectTimeout !== 'number' || Number.isNaN(connectTimeout)) throw argType('option connectTimeout', 'a number', connectTimeout)
  if (!(connectTimeout >= 1 && connectTimeout <= 3_600_000)) throw new TroupeRangeError('ERR_OUT_OF_RANGE', `option connectTimeout must be between 1 and 3600000 ms, got ${connectTimeout}`)
  return { options: resolveJoinOptions(group, rest), connectTimeout }
}
