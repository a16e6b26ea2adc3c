// ReplicatedMap: a string-keyed map of JSON values, the same at every
// member. set() and delete() go through the group's total order, so every
// member applies every change in one order, and resolve once the change is
// applied here (reads that follow see it); get() reads this member's copy.
// A joiner gets the map through state transfer. With the option `merge` and
// the group's partitions: 'merge', sides that went on apart are reconciled
// into one map when they merge (MapMachine).
import { Block, type Machine, type Op, type Outgoing } from './block.js'
import { argType } from '../errors.js'

/** A change, as 'change' listeners get it (after it is applied here). */
export interface MapChange<V> {
  key: string
  /** The new value; undefined when the key was deleted. */
  value: V | undefined
  previous: V | undefined
  /** The member that made the change. */
  member: string
}

/** How sides that went on apart become one map again: given each side's map (in the order of the merge's sides), the entries of the one map. */
export type MapReconcile<V> = (sides: ReadonlyMap<string, V>[]) => Iterable<[string, V]>

/** The built-in reconciliation ('union'): every key of every side; where sides differ, the larger side's value (the earlier side on a tie). */
export function unionByLargerSide<V>(sides: ReadonlyMap<string, V>[]): Iterable<[string, V]> {
  const out = new Map<string, V>()
  const order = sides.map((side, i) => ({ side, i })).sort((a, b) => b.side.size - a.side.size || a.i - b.i)
  for (const { side } of order) for (const [k, v] of side) if (!out.has(k)) out.set(k, v)
  return out
}

interface Merging {
  /** Names this merge (its sides): a side's map sent for an earlier merge is not taken for this one. */
  key: string
  /** The merge's sides (member ids); each side's map once its snapshot came ('gone': no member of it is left). */
  sides: string[][]
  got: (Array<[string, unknown]> | 'gone' | null)[]
  /** Operations delivered meanwhile, applied once the map is one again. */
  waiting: { op: Op; sender: string }[]
  /** The side whose snapshot this member sent (-1: none yet). */
  sent: number
}

/**
 * The map's state machine (sans-IO). With a `reconcile` function, a merge
 * (partitions 'merge') is reconciled: the first member of each side still in
 * the view sends its side's map (in total order); once every side's map is
 * in, every member computes the same one map, then applies the operations
 * that came meanwhile. Without one, each side keeps its own.
 */
export class MapMachine<V> implements Machine {
  readonly entries = new Map<string, V>()
  private merging: Merging | null = null
  onChange: (change: MapChange<V>) => void = () => {}
  settled?: (op: Op, sender: string, result: unknown) => void

  constructor(private readonly reconcile: MapReconcile<V> | null = null) {}

  /** A merge is being reconciled: operations wait. */
  get reconciling(): boolean {
    return this.merging !== null
  }

  apply(op: Op, sender: string): { result: unknown } | null | 'later' {
    if (op.o === 'side') return this.onSide(op)
    if (op.o !== 'set' && op.o !== 'del' && op.o !== 'clear') return null
    if (op.o !== 'clear' && (typeof op.k !== 'string' || (op.o === 'set' && !('v' in op)))) return null
    if (this.merging) {
      this.merging.waiting.push({ op, sender })
      return 'later'
    }
    return { result: this.change(op, sender) }
  }

  private change(op: Op, sender: string): unknown {
    if (op.o === 'clear') {
      const before = [...this.entries]
      this.entries.clear()
      for (const [key, previous] of before) this.onChange({ key, value: undefined, previous, member: sender })
      return before.length
    }
    const key = op.k as string
    const previous = this.entries.get(key)
    if (op.o === 'set') {
      this.entries.set(key, op.v as V)
      this.onChange({ key, value: op.v as V, previous, member: sender })
      return previous
    }
    if (!this.entries.has(key)) return false
    this.entries.delete(key)
    this.onChange({ key, value: undefined, previous, member: sender })
    return true
  }

  onView(members: readonly string[], me: string): Outgoing | null {
    const m = this.merging
    if (!m) return null
    const here = new Set(members)
    m.sides.forEach((side, i) => {
      if (m.got[i] === null && !side.some((x) => here.has(x))) m.got[i] = 'gone'
    })
    if (this.finishIfDone()) return null
    return this.mine(here, me)
  }

  onMerge(sides: readonly (readonly string[])[], me: string): Outgoing | null {
    if (this.reconcile === null) return null
    if (this.merging) this.finish() // a merge within a merge: the one under way ends with the sides it has
    this.merging = { key: sides.map((s) => s.join(',')).join('|'), sides: sides.map((s) => [...s]), got: sides.map(() => null), waiting: [], sent: -1 }
    return this.mine(new Set(sides.flat()), me)
  }

  /** Our side's snapshot, if we are the first member of our side still here and it has not come. */
  private mine(here: ReadonlySet<string>, me: string): Outgoing | null {
    const m = this.merging!
    const i = m.sides.findIndex((side) => side.includes(me))
    if (i < 0 || m.got[i] !== null || m.sent === i) return null
    if (m.sides[i]!.find((x) => here.has(x)) !== me) return null
    m.sent = i
    return { o: 'side', m: m.key, s: i, e: [...this.entries] }
  }

  private onSide(op: Op): { result: unknown } | null {
    const m = this.merging
    if (!Number.isInteger(op.s) || !Array.isArray(op.e)) return null
    if (m && op.m === m.key && m.got[op.s as number] === null) {
      m.got[op.s as number] = op.e as Array<[string, unknown]>
      this.finishIfDone()
    }
    return { result: undefined } // (late, or a side's second: ignored alike everywhere)
  }

  private finishIfDone(): boolean {
    if (!this.merging || this.merging.got.some((g) => g === null)) return false
    this.finish()
    return true
  }

  /** The one map from the sides' maps that came; then what waited. */
  private finish(): void {
    const m = this.merging!
    this.merging = null
    const sides = m.got.filter((g): g is Array<[string, unknown]> => Array.isArray(g)).map((e) => new Map(e as Array<[string, V]>))
    const merged = new Map(this.reconcile!(sides))
    const before = new Map(this.entries)
    this.entries.clear()
    for (const [k, v] of merged) this.entries.set(k, v)
    for (const [k, previous] of before) if (!merged.has(k)) this.onChange({ key: k, value: undefined, previous, member: '' })
    for (const [k, v] of merged) if (!before.has(k) || !sameJson(before.get(k), v)) this.onChange({ key: k, value: v, previous: before.get(k), member: '' })
    for (const w of m.waiting) this.settled?.(w.op, w.sender, this.change(w.op, w.sender))
  }

  snapshot(): unknown {
    return { entries: [...this.entries], merging: this.merging }
  }

  restore(snapshot: unknown): void {
    this.entries.clear()
    this.merging = null
    const s = snapshot as { entries?: unknown; merging?: Merging | null } | null
    if (!s || !Array.isArray(s.entries)) return
    for (const e of s.entries) if (Array.isArray(e) && typeof e[0] === 'string') this.entries.set(e[0], e[1] as V)
    if (s.merging) this.merging = { ...s.merging, sent: -1 }
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

export interface ReplicatedMapEvents<V> {
  change: [change: MapChange<V>]
}

export class ReplicatedMap<V = unknown> extends Block<ReplicatedMapEvents<V>> {
  private readonly map: MapMachine<V>

  /**
   * `merge` (for a group joined with partitions: 'merge'): how the sides'
   * maps become one when they merge: 'union' (every key; the larger side's
   * value where they differ) or a function of the sides' maps. Default: none,
   * each side keeps its own map.
   */
  constructor(name = 'map', options: { merge?: 'union' | MapReconcile<V> } = {}) {
    const { merge } = options
    if (merge !== undefined && merge !== 'union' && typeof merge !== 'function') throw argType('option merge of ReplicatedMap', "'union' or a function", merge)
    const machine = new MapMachine<V>(merge === 'union' ? unionByLargerSide : (merge ?? null))
    super('map', name, machine)
    this.map = machine
    machine.onChange = (change) => this.emit('change', change)
  }

  /** Sets `key` (everywhere, in the one order); resolves with the value it replaced here. */
  set(key: string, value: V): Promise<V | undefined> {
    if (typeof key !== 'string') return Promise.reject(argType('the key of set()', 'a string', key))
    if (value === undefined) return Promise.reject(argType('the value of set()', 'JSON data (not undefined: use delete())', value))
    return this.submit({ o: 'set', k: key, v: value }) as Promise<V | undefined>
  }

  /** Deletes `key` everywhere; resolves with whether it was there. */
  delete(key: string): Promise<boolean> {
    if (typeof key !== 'string') return Promise.reject(argType('the key of delete()', 'a string', key))
    return this.submit({ o: 'del', k: key }) as Promise<boolean>
  }

  /** Deletes every key everywhere; resolves with how many there were (at that point in the one order). */
  clear(): Promise<number> {
    return this.submit({ o: 'clear' }) as Promise<number>
  }

  /** This member's copy (every change this member has applied). */
  get(key: string): V | undefined {
    return this.map.entries.get(key)
  }

  has(key: string): boolean {
    return this.map.entries.has(key)
  }

  get size(): number {
    return this.map.entries.size
  }

  keys(): IterableIterator<string> {
    return this.map.entries.keys()
  }

  entries(): IterableIterator<[string, V]> {
    return this.map.entries.entries()
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.map.entries.entries()
  }

  /** A plain object of the entries (a copy). */
  toJSON(): Record<string, V> {
    return Object.fromEntries(this.map.entries)
  }
}
