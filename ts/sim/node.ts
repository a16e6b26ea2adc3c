// One simulated member: a ManualCore (the native reliability core, without
// threads or sockets) under the same TypeScript the live Group runs: the
// Member, and node/'s Outbox, Delivery and records reader. It sends and
// receives through its World, and its timers are events of the World's agenda.
// Each start() is a new incarnation; a crash ends it, and a stall freezes its
// JS while its core goes on.
import { OrderCode } from '../boundary.js'
import { addon, type NativeManualCore } from '../engine.js'
import { Member, type CorePort, type MemberConfig } from '../member.js'
import { Message, RoomMessage, type View } from '../message.js'
import { Delivery } from '../node/delivery.js'
import { FETCH_ROOM, Outbox, type OutboxPort } from '../node/outbox.js'
import { plainShell, readRecords } from '../node/records.js'
import { ORDERS } from '../options.js'
import { SimBlocks } from './blocks.js'
import type { Random } from './random.js'
import type { Incarnation, World } from './world.js'

const MAX_MESSAGE = 1 << 20 // the largest message a simulated member sends and puts together

/** Nanoseconds in a millisecond (the simulator's clock counts ns). */
export const MS = 1e6

export class SimNode {
  core!: NativeManualCore
  private hasCore = false
  member!: Member
  inc!: Incarnation
  alive = false
  outbox!: Outbox
  private delivery!: Delivery
  private paused = false
  // Stalled (a long GC pause, a busy event loop): the member's JS does
  // nothing until then, while its core goes on receiving, acking and
  // heartbeating (the live engine's I/O thread does); what the core hands
  // over meanwhile waits here.
  private stalledUntilNs = 0
  private held: ReturnType<NativeManualCore['take']>[] = []
  private draining = false
  private again = false
  private timerAt = Infinity
  private generation = 0
  private sendCounter = 0
  /** How the member's records are read: no 'slow' policy, no iterators; assembled messages from this incarnation's core. */
  private readonly shell = plainShell({ takeMessage: (handle) => this.core.takeMessage(handle) })
  state = 0 // the replicated counter of the state-transfer check
  blocks!: SimBlocks // the building blocks' state machines, this incarnation's

  constructor(readonly world: World, readonly index: number, readonly name: string) {}

  /** Starts a new incarnation that joins the group. */
  start(): void {
    const w = this.world
    if (this.hasCore) this.core.close() // the last incarnation's
    this.generation++
    this.alive = true
    this.paused = false
    this.stalledUntilNs = 0
    this.held = []
    this.timerAt = Infinity
    this.state = 0
    const self = w.random.u64()
    const hex = self.toString(16).padStart(16, '0')
    const id = `${this.name}#${hex}`
    this.core = new addon.ManualCore(
      {
        groupHash: 0x5157,
        name: this.name,
        self,
        datagramSize: w.config.datagramSize,
        windowBytes: w.config.windowBytes,
        receiveSlots: w.config.receiveSlots ?? 4096,
        statusIntervalNs: w.config.statusIntervalMs * MS,
        nakDelayNs: 1 * MS,
        nakRetryNs: 10 * MS,
        xmitHoldNs: 2 * MS,
        suspectTimeoutNs: w.config.suspectTimeoutMs * MS,
        autoRemove: false,
        retainBytes: w.config.retainBytes ?? w.config.windowBytes * 2,
        maxMessageBytes: MAX_MESSAGE,
        seed: Number(w.random.u64() % 1000000n) + 1,
      },
      w.nowNs,
    )
    this.hasCore = true
    this.inc = {
      id, name: this.name, node: this.index, startedNs: w.nowNs, endedNs: null, end: 'running',
      views: [], delivered: [], sent: [], blockedNs: [], merges: [], causalDeps: new Map(), state: { set: null }, blockViews: [],
    }
    const blocks = (this.blocks = new SimBlocks(id))
    w.incarnations.push(this.inc)
    const inc = this.inc
    const generation = this.generation
    const config: MemberConfig = {
      id,
      suspectTimeout: w.config.suspectTimeoutMs,
      retry: w.config.retryMs,
      discovery: w.config.retryMs * 10,
      partitions: w.config.partitions,
      maxControl: w.config.datagramSize - 24,
      futureBytes: 64 << 20,
      maxRecord: maxPayload(w.config.datagramSize),
      receiveOwn: true,
      getState: () => withBlocks(encodeCounter(this.state), blocks.snapshot()),
      setState: (bytes) => {
        inc.state.set = bytes
        this.state = decodeCounter(bytes)
        blocks.restore(bytes.subarray(4))
      },
    }
    // The same send path and delivery filter as the live Group (node/).
    this.outbox = new Outbox(this.outboxPort(generation), {
      maxPayload: maxPayload(w.config.datagramSize),
      maxPending: 1 << 30, // the scenarios do not wait for 'drain'
      orderedLimit: 2 * w.config.windowBytes,
    }, () => this.member.causalHeader())
    this.delivery = new Delivery(this.outbox, config, (bytes) => {
      for (let i = 0; i < bytes.length; i++) bytes[i] = w.random.int(0, 255)
    })
    const handed = (msg: Message): void => {
      const key = msg instanceof RoomMessage ? blocks.onMessage(msg) : new TextDecoder().decode(msg.data.subarray(0, Math.min(msg.data.length, 64))).split('|')[0]!
      if (key === null) throw new Error(`sim: a room message that is no block operation, from ${msg.sender}`)
      inc.delivered.push({ sender: msg.sender, key, order: msg.order, view: this.member.currentView?.id ?? 0 })
      this.state = (this.state + hashKey(key)) >>> 0 // order-free: members that delivered the same set agree
    }
    this.member = new Member(this.port(), {
      deliver: (delivered: Message) => {
        if (this.generation !== generation) return
        const msg = this.delivery.take(delivered, id)
        if (msg !== null) handed(msg)
      },
      view: (view: View) => {
        if (this.generation !== generation) return
        inc.views.push({ view, founder: this.member.gms.founder, atNs: w.nowNs })
        this.sendBlockOp(blocks.mapOp(blocks.onView(view), () => `${id}/${++this.sendCounter}`))
        // (A joiner's first view: once its state is in, at ready.)
        if (inc.views.length > 1) inc.blockViews.push({ view: view.id, founder: this.member.gms.founder, digest: blocks.digest(), strangers: blocks.strangers(view) })
      },
      ready: () => {
        const first = inc.views[0]
        if (this.generation === generation && first) inc.blockViews.push({ view: first.view.id, founder: first.founder, digest: blocks.digest(), strangers: blocks.strangers(first.view) })
      },
      merge: (_view: View, sides: string[][]) => {
        if (this.generation !== generation) return
        inc.merges.push(sides)
        this.sendBlockOp(blocks.mapOp(blocks.onMerge(sides), () => `${id}/${++this.sendCounter}`))
      },
      blocked: (blocked: boolean) => {
        if (blocked) inc.blockedNs.push(w.nowNs)
      },
      excluded: () => {
        // As the live Group does: LEAVE tells the others at once, then a new incarnation joins.
        this.core.leave(w.nowNs)
        this.restartLater('excluded')
      },
      left: () => {
        // As the live Group does: LEAVE tells the others at once.
        this.core.leave(w.nowNs)
        this.end('left')
      },
    }, config, w.nowNs / MS)
    // As the live Group does (handout.ts): on odd-numbered nodes the common
    // path's messages (fifo, unordered, nothing waiting) come straight from
    // the receive path, not through the hold-back; the seeds check both.
    if (this.index % 2 === 1) {
      this.member.takeFast({
        push: (sender, seq, order, bytes, start, end) => {
          if (this.generation === generation) handed(new Message(sender, bytes.subarray(start, end), ORDERS[order]!, seq))
        },
      }, false)
    }
    this.drain()
    this.scheduleTimer()
    this.scheduleTick(generation)
  }

  /** Frees the native core (the run is over). */
  dispose(): void {
    this.alive = false
    this.generation++
    if (this.hasCore) this.core.close()
    this.hasCore = false
  }

  crash(): void {
    if (!this.alive) return
    this.end('crashed')
  }

  private end(how: Incarnation['end']): void {
    this.alive = false
    this.generation++
    this.inc.end = how
    this.inc.endedNs = this.world.nowNs
  }

  private restartLater(how: Incarnation['end']): void {
    if (!this.alive) return
    this.end(how)
    // Start over as a new incarnation, as the live Group does.
    this.world.at(this.world.nowNs + 1 * MS, () => {
      if (!this.alive && this.world.restartExcluded) this.start()
    })
  }

  /** The member's JS stalls for `ms` (its core does not). */
  stall(ms: number): void {
    if (!this.alive) return
    this.stalledUntilNs = this.world.nowNs + ms * MS
    const generation = this.generation
    this.world.at(this.stalledUntilNs, () => {
      if (this.generation !== generation) return
      this.stalledUntilNs = 0
      this.drain()
      this.flushCore()
    })
  }

  get stalled(): boolean {
    return this.world.nowNs < this.stalledUntilNs
  }

  /** The application sends one message; its payload names it. */
  send(size: number, order: number): boolean {
    if (!this.alive || !this.member.joined || this.stalled) return false
    const key = `${this.inc.id}/${++this.sendCounter}`
    const head = new TextEncoder().encode(`${key}|`)
    let data = new Uint8Array(Math.max(size, head.length))
    data.set(head)
    this.inc.sent.push(key)
    if (order === OrderCode.causal) {
      // What this message depends on: the last causal message delivered from each sender.
      const deps: Record<string, string> = {}
      for (const d of this.inc.delivered) if (d.order === 'causal') deps[d.sender] = d.key
      this.inc.causalDeps.set(key, Object.values(deps))
    }
    this.outbox.send(data, order)
    this.flushCore()
    return true
  }

  /** One random operation of the building blocks (a lock, an unlock, an add, a compare-and-set). */
  blockOp(r: Random): boolean {
    if (!this.alive || !this.member.joined || this.stalled) return false
    return this.sendBlockOp(this.blocks.next(r, () => `${this.inc.id}/${++this.sendCounter}`))
  }

  private sendBlockOp(op: { data: Uint8Array; code: number; key: string } | null): boolean {
    if (op === null) return false
    this.inc.sent.push(op.key)
    this.outbox.send(op.data, op.code)
    this.flushCore()
    return true
  }

  leave(): void {
    if (this.alive) {
      this.member.leave()
      this.drain()
    }
  }

  input(data: Uint8Array, from: number): void {
    if (!this.alive) return
    this.core.input(data, from + 1, 1, this.world.nowNs)
    this.drain()
    this.scheduleTimer()
  }

  /** Sends what the core has packed, and hands the member what it produced. */
  private flushCore(): void {
    this.core.flush(this.world.nowNs)
    this.drain()
    this.scheduleTimer()
  }

  /**
   * How the outbox writes into this incarnation's core: straight in, as the
   * engine takes records from its ring, except that a pause (a flush) stops
   * the stream at a message boundary, as the engine does (engine.cc).
   */
  private outboxPort(generation: number): OutboxPort {
    return {
      write: (data, start, end, order, frag, prefix) => {
        if (this.paused && !this.core.inMessage()) return false
        let bytes = data.subarray(start, end)
        if (prefix !== undefined) bytes = Buffer.concat([prefix, bytes])
        return this.core.submit(bytes, order, frag, this.world.nowNs) === 'ok'
      },
      waitForSpace: () => false, // the core's window opens as acks come in: every tick pumps
      later: (pump) => this.world.at(this.world.nowNs, () => {
        if (this.generation !== generation) return
        pump()
        this.flushCore()
      }),
      drained: () => {},
    }
  }

  private port(): CorePort {
    return {
      control: (payload, to) => {
        this.world.onControlSent?.(this, payload[0]!)
        const ok = this.core.control(payload, to, this.world.nowNs)
        this.drain()
        return ok
      },
      pause: () => {
        this.paused = true
        this.outbox.pump() // the rest of a fragmented message still goes
        this.flushCore()
        return this.core.inMessage() ? -1 : this.core.highestSent()
      },
      resume: () => {
        this.paused = false
        this.outbox.pump()
        this.flushCore()
      },
      exclude: (hex, excluded) => this.core.exclude(hex, excluded),
      setView: (view) => this.core.setView(view, this.world.nowNs),
      advance: (hex, seq) => {
        this.core.advance(hex, seq)
        this.drain()
      },
      sendOrder: (record) => {
        this.outbox.sendRecord(record)
        this.flushCore()
      },
      fetch: (sender, holder, ranges) => {
        this.core.fetch(sender, holder, ranges)
        this.drain()
      },
      forget: (hex) => {
        this.core.forget(hex)
        this.drain()
      },
    }
  }

  /** Routes everything the core produced: datagrams to the network, the rest to the member. */
  private drain(): void {
    if (this.draining) {
      this.again = true
      return
    }
    this.draining = true
    try {
      do {
        this.again = false
        const taken = this.core.take()
        for (const s of taken.sent) this.world.transmit(this.index, s.data, s.to === null ? null : s.to.ip - 1)
        if (this.stalled) {
          this.held.push(taken)
          return
        }
        const m = this.member
        // What waited through a stall first, take by take, in the order it came;
        // each take's records in the order the core wrote them (as Group reads its ring).
        for (const out of this.held.length === 0 ? [taken] : [...this.held.splice(0), taken]) {
          readRecords(out.records, new DataView(out.records.buffer, out.records.byteOffset, out.records.byteLength), 0, out.records.length, this.member, this.shell)
        }
        m.settle()
        if (!this.alive) {
          // Ended (left or excluded) while handling this: what it sent last still goes out.
          for (const s of this.core.take().sent) this.world.transmit(this.index, s.data, s.to === null ? null : s.to.ip - 1)
          return
        }
      } while (this.again)
    } finally {
      this.draining = false
    }
  }

  private scheduleTimer(): void {
    if (!this.alive) return
    const at = Math.max(this.core.nextDeadline(), this.world.nowNs)
    if (at >= this.timerAt) return
    this.timerAt = at
    const generation = this.generation
    this.world.at(at, () => {
      if (this.generation !== generation || this.timerAt !== at) return
      this.timerAt = Infinity
      this.core.timer(this.world.nowNs)
      this.drain()
      this.scheduleTimer()
    })
  }

  private scheduleTick(generation: number): void {
    this.world.at(this.world.nowNs + this.world.config.tickMs * MS, () => {
      if (this.generation !== generation) return
      if (!this.stalled) {
        this.member.tick(this.world.nowNs / MS)
        if (this.outbox.waiting) this.outbox.pump()
      }
      this.flushCore()
      this.scheduleTick(generation)
    })
  }
}

function withBlocks(counter: Uint8Array, blocks: Uint8Array): Uint8Array {
  const out = new Uint8Array(counter.length + blocks.length)
  out.set(counter)
  out.set(blocks, counter.length)
  return out
}

function encodeCounter(n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n, true)
  return b
}
function decodeCounter(b: Uint8Array): number {
  return b.length >= 4 ? new DataView(b.buffer, b.byteOffset, b.length).getUint32(0, true) : 0
}
function hashKey(key: string): number {
  let h = 2166136261
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619)
  return h >>> 0
}

/** The largest message record in a datagram of `size` (as live.ts computes it from the engine). */
function maxPayload(size: number): number {
  return size - addon.limits.dataHeaderBytes - addon.limits.messageHeaderBytes - FETCH_ROOM
}

