// ReplicatedMap: a string-keyed map of JSON values, the same at every
// member. set() and delete() go through the group's total order, so every
// member applies every change in one order, and resolve once the change is
// applied here (reads that follow see it); get() reads this member's copy.
// A joiner gets the map through state transfer.
import { Block, type Machine, type Op } from './block.js'
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

/** The map's state machine (sans-IO). */
export class MapMachine<V> implements Machine {
  readonly entries = new Map<string, V>()
  onChange: (change: MapChange<V>) => void = () => {}

  apply(op: Op, sender: string): { result: unknown } | null {
    if (op.o === 'set' && typeof op.k === 'string' && 'v' in op) {
      const previous = this.entries.get(op.k)
      this.entries.set(op.k, op.v as V)
      this.onChange({ key: op.k, value: op.v as V, previous, member: sender })
      return { result: previous }
    }
    if (op.o === 'del' && typeof op.k === 'string') {
      if (!this.entries.has(op.k)) return { result: false }
      const previous = this.entries.get(op.k)
      this.entries.delete(op.k)
      this.onChange({ key: op.k, value: undefined, previous, member: sender })
      return { result: true }
    }
    return null
  }

  onView(): void {}

  snapshot(): unknown {
    return [...this.entries]
  }

  restore(snapshot: unknown): void {
    this.entries.clear()
    if (!Array.isArray(snapshot)) return
    for (const e of snapshot) if (Array.isArray(e) && typeof e[0] === 'string') this.entries.set(e[0], e[1] as V)
  }
}

export interface ReplicatedMapEvents<V> {
  change: [change: MapChange<V>]
}

export class ReplicatedMap<V = unknown> extends Block<ReplicatedMapEvents<V>> {
  private readonly map: MapMachine<V>

  constructor(name = 'map') {
    const machine = new MapMachine<V>()
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
