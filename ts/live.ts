// The live shell's I/O: one incarnation of a member, a native Engine opened
// from the resolved options with its two rings and its counters, and the
// sans-IO Member over it: the records taken from the inbound ring once per
// wake-up and read into the member, the outbox's records written into the
// outbound ring and flushed once per turn, the member's clock. Group
// (group.ts) opens one per incarnation and keeps the public API.
import { performance } from 'node:perf_hooks'

import { RecordType } from './boundary.js'
import { uninitialized } from './bytes.js'
import { addon, type NativeEngine } from './engine.js'
import { Member, type CorePort, type MemberEvents } from './member.js'
import { FETCH_ROOM, type Outbox } from './node/outbox.js'
import { readRecords, type RecordShell } from './node/records.js'
import { ipv4ToInt, type ResolvedOptions } from './options.js'
import { RingConsumer, RingProducer } from './ring.js'

const OUTBOUND_BYTES = 4 << 20
const INBOUND_BYTES = 8 << 20
const REC_MESSAGE = RecordType.message
const SEQUENCER_POLL_US = 50 // how long the sequencer keeps reading after a receive, while it places total messages
const SEQUENCER_POLL_FOR_MS = 100 // ... placed that recently

/** What an incarnation needs of its Group. */
export interface LiveHost extends MemberEvents {
  /** A member held our flow-control window full for slowReceiverTimeout. */
  slow(e: { member: string; lag: number; evicting: boolean }): void
  /** An iterator is full: stop reading records (mid-batch) until it has caught up. */
  stopped(): boolean
  /** What the member delivers from here to endBatch() is one batch (one wake-up's, or a tick's). */
  beginBatch(): void
  endBatch(): void
}

/** Inbound records taken from the ring and not yet all handed to the member. */
interface HeldBatch {
  bytes: Uint8Array
  view: DataView
  at?: number
}

/** One incarnation of a live member: its engine and the Member over it. Closed for good by close(). */
export class LiveMember {
  readonly engine: NativeEngine
  readonly member: Member
  readonly counters: BigUint64Array
  /** This incarnation's id: name#16 hex digits. */
  readonly id: string
  private readonly outbound: RingProducer
  private readonly inbound: RingConsumer
  private closed = false
  private flushQueued = false
  private readonly flushFn = () => this.flush()
  private heldBatch: HeldBatch | null = null // the rest of a batch, while an iterator is full
  private readonly shell: RecordShell
  /** The engine's receive units, where 'messageAt' records point (let go of at close: they stay mapped while JS holds them). */
  private receiveMemory: Uint8Array | null
  private sequencerPolls = false
  private placements = 0 // the member's, when last looked at
  private lastPlacedAt = -Infinity

  constructor(group: string, private readonly options: ResolvedOptions, key: Uint8Array | null, private readonly outbox: Outbox, private readonly host: LiveHost) {
    outbox.restart() // (what the last incarnation queued)
    const live = openEngine(group, options, key, () => this.onWake())
    const engine = (this.engine = live.engine)
    this.outbound = live.outbound
    this.inbound = live.inbound
    this.counters = live.counters
    this.receiveMemory = live.receiveMemory
    this.id = `${options.name}#${live.self}`
    outbox.config.maxPayload = live.maxPayload
    const port: CorePort = {
      control: (payload, to) => engine.control(payload, to),
      pause: () => engine.pause(),
      resume: () => engine.resume(),
      exclude: (hex, excluded) => engine.exclude(hex, excluded),
      forget: (hex) => engine.forget(hex),
      setView: (view) => engine.setView(view),
      advance: (hex, seq) => engine.advance(hex, seq),
      fetch: (sender, holder, ranges) => engine.fetch(sender, holder, ranges),
      sendOrder: (record) => {
        if (!this.closed) outbox.sendRecord(record)
      },
    }
    this.member = new Member(port, host, {
      id: this.id,
      suspectTimeout: options.suspectTimeout,
      retry: retryOf(options),
      discovery: options.discovery,
      partitions: options.partitions,
      maxControl: maxControlOf(options),
      futureBytes: Math.max(64 << 20, 4 * options.window),
      maxRecord: live.maxPayload,
      receiveOwn: options.receiveOwn,
      getState: options.getState,
      setState: options.setState,
    }, performance.now())
    const incarnation = this
    this.shell = {
      onSlow: (hex, lag) => {
        const evicting = options.slowReceiver === 'evict'
        if (evicting) this.member.evict(hex)
        host.slow({ member: this.member.idOf(hex) ?? hex, lag, evicting })
      },
      stopped: () => host.stopped(),
      takeMessage: (handle) => lookedAt(this.engine.takeMessage(handle)),
      get receiveMemory() {
        return incarnation.receiveMemory // (let go of at close)
      },
    }
  }

  /** The outbox's port: one record into the outbound ring (false: no room, even after a flush). */
  write(data: Uint8Array, start: number, end: number, order: number, frag: number, prefix?: Uint8Array): boolean {
    const flags = order | (frag << 4)
    if (!this.outbound.write(REC_MESSAGE, flags, data, start, end, prefix)) {
      // Ring full: hand what is there to the engine right now, then retry once.
      this.flush()
      if (!this.outbound.write(REC_MESSAGE, flags, data, start, end, prefix)) return false
    }
    if (!this.flushQueued) {
      this.flushQueued = true
      queueMicrotask(this.flushFn)
    }
    return true
  }

  /** Asks the engine to wake us when the outbound ring has room for `bytes` (true: it has room already). */
  waitForSpace(bytes: number): boolean {
    return this.outbound.waitForSpace(bytes)
  }

  /** Publishes what was written and has the engine send it. */
  flush(): void {
    this.flushQueued = false
    if (this.closed) return
    this.outbound.publish()
    this.engine.flush()
  }

  tick(): void {
    if (this.closed) return
    this.host.beginBatch()
    try {
      this.member.tick(performance.now())
    } finally {
      this.host.endBatch()
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.engine.close()
    this.receiveMemory = null
  }

  /** One call per batch of inbound records (the engine coalesces wake-ups), and when a full iterator caught up. */
  onWake(): void {
    if (this.closed) return
    const shell = this.shell
    // An iterator is full: take nothing (and leave the wake flag set, so the
    // engine does not wake us again) until it has caught up (Inboxes).
    if (shell.stopped()) return
    this.host.beginBatch()
    try {
      this.read()
    } finally {
      this.host.endBatch()
      this.release()
    }
  }

  /** What was read in place goes back to the engine (which may wait for the room). */
  private release(): void {
    if (this.closed) return
    this.inbound.release()
    if (this.inbound.takeBlocked()) this.engine.kick()
  }

  private read(): void {
    const shell = this.shell
    this.member.setNow(performance.now())
    this.inbound.armWake()
    if (this.member.transient && this.heldBatch === null) {
      // The records read in place: the batch's bytes are the ring's, handed
      // back once the 'batch' listeners had them (endBatch: release).
      // A reader that fills up (a transfer's stream) stops it mid-span: the
      // rest stays in the ring for the wake-up after it has caught up.
      const ring = this.inbound
      for (let span = ring.peek(); span !== null; span = shell.stopped() ? null : ring.peek()) {
        const end = span.end
        const at = readRecords(ring.bytes, ring.dataView, span.start, end, this.member, shell)
        if (this.closed) return
        if (at < end) {
          ring.unpeek(end - at)
          break
        }
      }
    } else {
      // First the rest of a batch left when an iterator filled up.
      let batch: HeldBatch | null = this.heldBatch
      this.heldBatch = null
      for (batch ??= this.inbound.take(); batch !== null; batch = shell.stopped() ? null : this.inbound.take()) {
        if (this.inbound.takeBlocked()) this.engine.kick()
        const at = readRecords(batch.bytes, batch.view, batch.at ?? 0, batch.bytes.length, this.member, shell)
        if (this.closed) return
        if (at < batch.bytes.length) this.heldBatch = { bytes: batch.bytes, view: batch.view, at }
      }
      if (this.inbound.takeBlocked()) this.engine.kick()
    }
    this.member.settle()
    if (this.outbox.waiting) this.outbox.pump()
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
}

/** The largest CONTROL payload: a datagram less the header (and the seal, in a closed group). */
export function maxControlOf(options: ResolvedOptions): number {
  return options.datagramSize - (options.key ? addon.limits.sealOverhead : 0) - addon.limits.dataHeaderBytes + 16
}

/** The membership protocol's retry interval (ms): a twentieth of the suspicion timeout, 5 to 100 ms. */
export function retryOf(options: ResolvedOptions): number {
  return Math.max(5, Math.min(100, options.suspectTimeout / 20))
}

export interface LiveEngine {
  engine: NativeEngine
  outbound: RingProducer
  inbound: RingConsumer
  counters: BigUint64Array
  /** This incarnation's id: 16 hex digits. */
  self: string
  /** The largest message record (larger messages go in fragments). */
  maxPayload: number
  /** Where 'messageAt' records point (read in place); null: none come. */
  receiveMemory: Uint8Array | null
}

/** Opens the sockets and the I/O thread of a new incarnation; `onWake` runs once per batch of inbound records. */
export function openEngine(group: string, options: ResolvedOptions, key: Uint8Array | null, onWake: () => void, client = false): LiveEngine {
  const inject = options.inject
  // The inbound ring must hold several of the largest datagrams.
  const inboundBytes = Math.max(INBOUND_BYTES, nextPowerOfTwo(options.datagramSize * 8))
  const engine = new addon.Engine(
    {
      groupHash: addon.groupHash(group),
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
      maxMessageBytes: options.maxMessageSize,
      receiveBuffer: options.receiveBuffer,
      sendBuffer: options.sendBuffer,
      busyPollNs: options.busyPoll * 1000,
      outboundBytes: OUTBOUND_BYTES,
      inboundBytes,
      seed: Math.floor(Math.random() * 2 ** 32),
      client,
      ...(key ? { key } : {}),
      ...(options.transport !== 'udp-multicast' ? { peers: options.peers.flatMap((p) => [networkOrder(ipv4ToInt(p.address)), p.port]) } : {}),
      ...(options.transport === 'auto' ? { autoFallback: true } : {}),
      ...(inject ? { injectLoss: inject.loss, injectDuplicate: inject.duplicate, injectReorder: inject.reorder, injectSeed: inject.seed, injectDelayMs: inject.delay } : {}),
    },
    onWake,
  )
  const info = engine.info!
  const memory = engine.memory()
  const receive = engine.receiveMemory()
  const outbound = new RingProducer(memory, info.outboundOffset, OUTBOUND_BYTES)
  return {
    engine,
    outbound,
    // Wake-ups' copies: small plain ones in JS (not zero-filled), the rest
    // by the engine, at most MAX_TAKE each (MAX_TAKE says why).
    inbound: new RingConsumer(memory, info.inboundOffset, inboundBytes, uninitialized, MAX_TAKE, {
      take: (max) => lookedAt(engine.takeInbound(max)),
      referenceType: RecordType.messageAt,
    }),
    receiveMemory: receive === null ? null : new Uint8Array(receive),
    counters: new BigUint64Array(memory, 0, addon.counters.length),
    self: info.self,
    maxPayload: Math.min(info.maxPayload - FETCH_ROOM, outbound.maxPayload),
  }
}

/** An IPv4 address as a number in network byte order (how the addon takes it). */
export function networkOrder(hostOrder: number): number {
  return (((hostOrder & 0xff) << 24) | ((hostOrder & 0xff00) << 8) | ((hostOrder >>> 8) & 0xff00) | (hostOrder >>> 24)) >>> 0
}

/**
 * A message the engine put together, now JS's, in memory V8 did not
 * allocate: V8 counts it as young external memory but looks at that count
 * only when it allocates an ArrayBuffer's memory itself. A member that
 * reads its ring in place (one that only receives transfers, or only has
 * 'batch' listeners) allocates none, so these were freed only by full
 * collections, about every 90 ms, and the engine put messages together in
 * ~100 MB of memory gone cold (a transfer's receiver: 925 MB/s 1 -> 1
 * against 1,518 with a 'message' listener). A small ArrayBuffer per large
 * message lets V8 look: young collections free them, as for every other
 * member, and the engine's mappings come back warm.
 */
function lookedAt(message: Uint8Array | null): Uint8Array | null {
  if (message !== null && message.length >= LOOK_AT_EXTERNAL_FROM) looked[0] = new ArrayBuffer(LOOK_BYTES) // (kept, so that no compiler drops it)
  return message
}
const LOOK_AT_EXTERNAL_FROM = 64 << 10
const LOOK_BYTES = 128 // (past V8's on-heap typed arrays: its allocator is asked)
const looked: ArrayBuffer[] = []

/**
 * The most a wake-up's copy holds (a wake-up may take several): the engine
 * copies into memory reused once the batch is let go of (looked at, so that
 * young collections let go of it), and copies of at most this fall in three
 * of the pool's sizes, all in its 2 MiB slabs. A wake-up's whole batch, up
 * to the 8 MiB ring, fell in every power of two up to 8 MiB, each with its
 * own mappings: a receiver at 1,000 B then mapped 100–355 fresh ones in a
 * run of 3 s (its kernel zeroing their pages: 9% of its time), 13–18 since,
 * and its peak RSS went from 153–231 to 110–123 MiB (at 100 B, 221–289 to
 * 112–129).
 */
const MAX_TAKE = 256 << 10

function nextPowerOfTwo(n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}
