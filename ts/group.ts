// Group: join / send / leave / events. A thin coordinator of the parts:
// the native engine (engine.ts, through the rings in ring.ts), the
// membership (membership/), the order policies (order/) and reassembly.
import { EventEmitter } from 'node:events'

import { addon, counterIndex, NativeEngine, RecordType } from './engine.js'
import { Frag, Reassembly } from './fragments.js'
import { HeardMembership } from './membership/heard.js'
import { Message, type View } from './message.js'
import { ipv4ToInt, ORDERS, resolveJoinOptions, validateGroupName, type JoinOptions, type Order, type ResolvedOptions } from './options.js'
import { FifoOrder } from './order/fifo.js'
import type { OrderPolicy } from './order/policy.js'
import { UnorderedOrder } from './order/unordered.js'
import { RingConsumer, RingProducer } from './ring.js'

export interface SendOptions {
  order?: Order
}

export interface GroupStats {
  me: string
  view: View
  /** The engine's counters (see `counterDocs` for what each means). */
  counters: Record<string, number>
  /** Bytes and messages queued by send() while the window was full. */
  pendingBytes: number
  pendingMessages: number
  /** Bytes of messages in reassembly. */
  reassemblyBytes: number
  /** Messages dropped in reassembly (broken fragment runs, too large). */
  reassemblyDropped: number
}

export interface GroupEvents {
  message: [msg: Message]
  view: [view: View]
  drain: []
  error: [err: Error]
}

const ORDER_CODE: Readonly<Record<string, number>> = Object.freeze(Object.fromEntries(ORDERS.map((o, i) => [o, i])))
const FIFO = 1
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
   * Joins the group `name` and resolves once this member is in its own view.
   * Options are described in options.ts (JOIN_OPTIONS); a wrong name or value
   * throws a TypeError or RangeError naming the option.
   */
  static async join(name: string, options?: JoinOptions): Promise<Group> {
    const group = validateGroupName(name)
    const resolved = resolveJoinOptions(group, options)
    const g = new Group(group, resolved)
    await g.joined
    return g
  }

  readonly name: string
  private readonly options: ResolvedOptions
  private readonly engine: NativeEngine
  private readonly memory: ArrayBuffer
  private readonly outbound: RingProducer
  private readonly inbound: RingConsumer
  private readonly counters: BigUint64Array
  private readonly maxPayload: number
  private readonly selfId: string
  private readonly membership = new HeardMembership()
  private readonly peers: string[] = []
  private readonly policies: OrderPolicy[] = []
  private readonly reassembly: Reassembly
  private readonly pending: Pending[] = []
  private pendingBytes = 0
  private needDrain = false
  private flushQueued = false
  private closed = false
  private readonly joined: Promise<void>
  private onJoined: (() => void) | null = null
  private readonly deliverFn = (msg: Message) => this.emit('message', msg)
  private readonly flushFn = () => this.flush()

  private constructor(name: string, options: ResolvedOptions) {
    super()
    this.name = name
    this.options = options
    this.joined = new Promise((resolve) => (this.onJoined = resolve))
    const inject = options.inject
    // The inbound ring must hold several of the largest datagrams.
    const inboundBytes = Math.max(INBOUND_BYTES, nextPowerOfTwo(options.datagramSize * 8))
    this.engine = new addon.Engine(
      {
        groupHash: addon.groupHash(name),
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
        receiveOwn: options.receiveOwn,
        receiveBuffer: options.receiveBuffer,
        sendBuffer: options.sendBuffer,
        outboundBytes: OUTBOUND_BYTES,
        inboundBytes,
        seed: Math.floor(Math.random() * 2 ** 32),
        ...(inject ? { injectLoss: inject.loss, injectDuplicate: inject.duplicate, injectReorder: inject.reorder, injectSeed: inject.seed } : {}),
      },
      () => this.onWake(),
    )
    const info = this.engine.info!
    this.memory = this.engine.memory()
    this.outbound = new RingProducer(this.memory, info.outboundOffset, OUTBOUND_BYTES)
    this.inbound = new RingConsumer(this.memory, info.inboundOffset, inboundBytes)
    this.counters = new BigUint64Array(this.memory, 0, addon.counters.length)
    this.maxPayload = Math.min(info.maxPayload, this.outbound.maxPayload)
    this.selfId = `${options.name}#${info.self}`
    this.reassembly = new Reassembly(options.maxMessageSize)
    this.policies = [new UnorderedOrder(), new FifoOrder()]
  }

  /** This member's id: its name and a random incarnation, `name#0123456789abcdef`. */
  get me(): string {
    return this.selfId
  }

  /** The current view. */
  get view(): View {
    return this.membership.view ?? { id: 0, members: [], coordinator: '' }
  }

  /**
   * Multicasts `data` to the group. The bytes are copied before send()
   * returns, so the caller may reuse its buffer. Returns false when the
   * flow-control window is full: the message is queued (not lost) and
   * 'drain' is emitted when sending may go on (the Node Writable convention).
   */
  send(data: Uint8Array, options?: SendOptions): boolean {
    if (!(data instanceof Uint8Array)) throw new TypeError(`data must be a Uint8Array, got ${data === null ? 'null' : typeof data}`)
    let order = FIFO
    if (options !== undefined) {
      if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object')
      if (options.order !== undefined) {
        const code = ORDER_CODE[options.order as string]
        if (code === undefined) throw new RangeError(`option order must be one of ${ORDERS.join(', ')}, got '${String(options.order)}'`)
        if (code > FIFO) throw new TroupeError(`order '${options.order}' is not built yet (unordered and fifo are)`, 'ERR_TROUPE_UNSUPPORTED')
        order = code
      }
    }
    if (this.closed) throw new TroupeError('the group was left', 'ERR_TROUPE_CLOSED')
    if (data.length > this.options.maxMessageSize) {
      throw new RangeError(`message of ${data.length} bytes is larger than maxMessageSize (${this.options.maxMessageSize})`)
    }
    if (this.pending.length === 0) {
      if (data.length <= this.maxPayload) {
        if (this.writeWhole(data, order)) return true
      } else {
        const offset = this.writeFragments(data, order, 0)
        if (offset === data.length) return true
        return this.queue(data, order, offset)
      }
    }
    return this.queue(data, order, 0)
  }

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
      reassemblyBytes: this.reassembly.pendingBytes,
      reassemblyDropped: this.reassembly.dropped,
    }
  }

  /**
   * Leaves the group: waits (up to `timeoutMs`) until queued messages are
   * handed to the engine, then sends LEAVE and closes the sockets.
   */
  async leave(timeoutMs = 2000): Promise<void> {
    if (this.closed) return
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
    this.closed = true
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
    while (this.pending.length > 0) {
      const p = this.pending[0]!
      const before = p.offset
      if (p.offset === 0 && p.data.length <= this.maxPayload) {
        if (!this.writeWhole(p.data, p.order)) break
        p.offset = p.data.length
      } else {
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
  private onWake(): void {
    if (this.closed) return
    this.inbound.armWake()
    for (let batch = this.inbound.take(); batch !== null; batch = this.inbound.take()) {
      if (this.inbound.takeBlocked()) this.engine.kick()
      this.dispatch(batch.bytes, batch.view)
      if (this.closed) return
    }
    if (this.inbound.takeBlocked()) this.engine.kick()
    if (this.pending.length > 0) this.pumpPending()
  }

  private dispatch(bytes: Uint8Array, view: DataView): void {
    const end = bytes.length
    const buffer = bytes.buffer
    const peers = this.peers
    const policies = this.policies
    const deliver = this.deliverFn
    let at = 0
    while (at < end) {
      const length = view.getUint32(at, true)
      const type = view.getUint16(at + 4, true)
      const flags = view.getUint16(at + 6, true)
      const body = at + 8
      at += (length + 7) & ~7
      if (type === RecordType.message) {
        const seq = view.getUint32(body, true) + view.getUint32(body + 4, true) * 4294967296
        const peer = view.getUint32(body + 8, true)
        let data = new Uint8Array(buffer, body + 16, length - 24)
        const frag = flags >> 4
        let first = seq
        if (frag !== Frag.whole) {
          const whole = this.reassembly.add(peer, seq, frag, data)
          if (whole === null) continue
          data = whole.data
          first = whole.seq
        }
        const order = flags & 0xf
        const policy = policies[order]!
        policy.onMessage(new Message(peers[peer]!, data, policy.order, first), deliver)
      } else if (type === RecordType.peerUp) {
        this.onPeerUp(view, body, bytes)
      } else if (type === RecordType.peerDown) {
        this.onPeerDown(view, body)
      }
    }
  }

  private onPeerUp(view: DataView, body: number, bytes: Uint8Array): void {
    const peer = view.getUint32(body, true)
    const nameLength = view.getUint32(body + 4, true)
    const id = (view.getBigUint64(body + 8, true)).toString(16).padStart(16, '0')
    const name = Buffer.from(bytes.buffer, bytes.byteOffset + body + 16, nameLength).toString('utf8')
    const member = `${name}#${id}`
    this.peers[peer] = member
    const v = this.membership.add(member)
    this.installView(v)
    if (member === this.selfId && this.onJoined) {
      this.onJoined()
      this.onJoined = null
    }
  }

  private onPeerDown(view: DataView, body: number): void {
    const peer = view.getUint32(body, true)
    const member = this.peers[peer]
    if (member === undefined) return
    this.reassembly.forget(peer)
    const v = this.membership.remove(member)
    if (v) this.installView(v)
  }

  private installView(v: View): void {
    for (const p of this.policies) p.onView(v, this.deliverFn)
    this.emit('view', v)
  }
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
