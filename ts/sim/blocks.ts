// The building blocks' state machines (blocks/locks.ts, blocks/counter.ts)
// inside a simulated member: their operations are sent as the blocks send
// them (JSON on a `$blocks.` subject, total order, a room message) and
// applied as delivered, and views reach them in delivery order; the state
// goes to joiners with the member's state transfer. The checker then holds
// them to what the blocks promise: at every view, every member that
// installs it holds the same lock queues and counter (so a lock whose holder
// crashed is released once, at the same point, everywhere), and the final
// view agrees.
import { OrderCode, ROOM_BIT } from '../boundary.js'
import { CounterMachine } from '../blocks/counter.js'
import { LockMachine } from '../blocks/locks.js'
import { MapMachine, unionByLargerSide } from '../blocks/map.js'
import type { Op, Outgoing } from '../blocks/block.js'
import type { Message, View } from '../message.js'
import { Subjects } from '../subjects.js'
import type { Random } from './random.js'

const LOCKS = '$blocks.locks.sim'
const COUNTER = '$blocks.counter.sim'
const MAP = '$blocks.map.sim'
const LOCK_NAMES = ['L0', 'L1']
const utf8 = new TextDecoder()
const encoder = new TextEncoder()

export class SimBlocks {
  readonly locks = new LockMachine()
  readonly counter = new CounterMachine()
  /** Reconciled when sides merge (partitions 'merge'): the sides' maps become one. */
  readonly map = new MapMachine<number>(unionByLargerSide)
  private readonly subjects = new Subjects()
  private nextOp = 1
  private readonly waiting = new Set<string>() // locks asked for, not granted yet
  private readonly holding = new Map<string, number>() // lock → our request's number
  /** Operations applied here; grants of a lock to a member. */
  applied = 0
  grants = 0

  constructor(private readonly me: string) {
    this.subjects.subscribe('$blocks.>', (m) => this.apply(m.subject, m.data, m.sender))
    this.locks.onGrant = (lock, e) => {
      this.grants++
      if (e.member !== this.me) return
      this.waiting.delete(lock)
      this.holding.set(lock, e.id)
    }
  }

  /**
   * One random operation of this member: ask for a lock, release one it
   * holds, add to the counter, or compare-and-set it, named keyOf() in the
   * logs. Returns the message to send (total order, a room message).
   */
  next(r: Random, keyOf: () => string): { data: Uint8Array; code: number; key: string } | null {
    const i = this.nextOp++
    let subject = COUNTER
    let op: Record<string, unknown>
    if (r.chance(0.3)) {
      subject = MAP
      const k = `k${r.int(0, 9)}`
      op = r.chance(0.8) ? { o: 'set', k, v: r.int(0, 999) } : { o: 'del', k }
    } else if (r.chance(0.5)) {
      const lock = r.pick(LOCK_NAMES)
      if (this.holding.has(lock)) {
        op = { o: 'unlock', n: lock, r: this.holding.get(lock) }
        this.holding.delete(lock)
      } else if (!this.waiting.has(lock)) {
        op = { o: 'lock', n: lock }
        this.waiting.add(lock)
      } else return null
      subject = LOCKS
    } else if (r.chance(0.7)) op = { o: 'add', d: r.int(1, 5) }
    else op = { o: 'cas', e: this.counter.value, u: this.counter.value + 10 }
    return this.message(subject, op, i, keyOf())
  }

  /** An operation the map asks to send (its side's map at a merge). */
  mapOp(op: Outgoing | null, keyOf: () => string): { data: Uint8Array; code: number; key: string } | null {
    return op ? this.message(MAP, op, this.nextOp++, keyOf()) : null
  }

  private message(subject: string, op: Record<string, unknown>, i: number, key: string): { data: Uint8Array; code: number; key: string } {
    const data = this.subjects.frame(subject, encoder.encode(JSON.stringify({ ...op, i, key })))
    return { data, code: OrderCode.total | ROOM_BIT, key }
  }

  /** A delivered room message: a block operation. Returns its key (for the delivery log), or null if it is not one. */
  onMessage(msg: Message): string | null {
    this.lastKey = null
    this.subjects.onMessage(msg)
    return this.lastKey
  }
  private lastKey: string | null = null // the key of the operation apply() took last

  private apply(subject: string, data: Uint8Array, sender: string): void {
    const op = JSON.parse(utf8.decode(data)) as Op & { key: string }
    const machine = subject === LOCKS ? this.locks : subject === MAP ? this.map : this.counter
    if (machine.apply(op, sender) === null) throw new Error(`sim: a block operation did not apply: ${utf8.decode(data)}`)
    this.applied++
    this.lastKey = op.key
  }

  /** A view; the map may ask to send its side's map (a merge under way). */
  onView(view: View): Outgoing | null {
    this.locks.onView(view.members)
    return this.map.onView(view.members, this.me)
  }

  /** Sides merged; the map may ask to send its side's map. */
  onMerge(sides: string[][]): Outgoing | null {
    return this.map.onMerge(sides, this.me)
  }

  /** The map, in one string (keys sorted), and whether a merge is still being reconciled. */
  mapDigest(): string {
    return `${[...this.map.entries].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(',')}${this.map.reconciling ? ' (reconciling)' : ''}`
  }

  /** Members in the lock queues that are not in `view` (none, once the view is applied: a lock of a member gone is released). */
  strangers(view: View): string[] {
    const here = new Set(view.members)
    return [...this.locks.queues.values()].flatMap((q) => q.map((e) => e.member)).filter((m) => !here.has(m))
  }

  /** Lock queues and the counter, in one string (lock names sorted): equal strings, equal state. */
  digest(): string {
    const queues = [...this.locks.queues].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([l, q]) => `${l}:${q.map((e) => `${e.member}/${e.id}`).join(',')}`)
    return `${queues.join(' ')} | ${this.counter.value} | ${this.mapDigest()}`
  }

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify({ locks: this.locks.snapshot(), counter: this.counter.snapshot(), map: this.map.snapshot() }))
  }

  restore(bytes: Uint8Array): void {
    const s = JSON.parse(utf8.decode(bytes)) as { locks: unknown; counter: unknown; map: unknown }
    this.locks.restore(s.locks)
    this.counter.restore(s.counter)
    this.map.restore(s.map)
  }
}
