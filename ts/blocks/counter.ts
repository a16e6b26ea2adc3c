// Counter: a number the same at every member, changed by add() and
// compareAndSet() in the group's total order. Each operation resolves with
// its result as applied in that order, and get() goes through the order too,
// so every call is linearisable: it takes effect at one point between its
// call and its result, the same point for every member. `value` is this
// member's copy (no round trip, possibly behind).
import { Block, type Machine, type Op } from './block.js'
import { argType, TroupeRangeError } from '../errors.js'

/** The counter's state machine (sans-IO). */
export class CounterMachine implements Machine {
  value = 0

  apply(op: Op): { result: unknown } | null {
    if (op.o === 'add' && Number.isSafeInteger(op.d)) {
      const next = this.value + (op.d as number)
      if (!Number.isSafeInteger(next)) return { result: new TroupeRangeError('ERR_OUT_OF_RANGE', `Counter add(): ${this.value} + ${op.d as number} is not a safe integer; the counter is unchanged`) }
      this.value = next
      return { result: next }
    }
    if (op.o === 'cas' && Number.isSafeInteger(op.e) && Number.isSafeInteger(op.u)) {
      if (this.value !== op.e) return { result: false }
      this.value = op.u as number
      return { result: true }
    }
    if (op.o === 'get') return { result: this.value }
    return null
  }

  onView(): void {}

  snapshot(): unknown {
    return this.value
  }

  restore(snapshot: unknown): void {
    this.value = Number.isSafeInteger(snapshot) ? (snapshot as number) : 0
  }
}

function safe(what: string, n: unknown): number {
  if (typeof n !== 'number') throw argType(what, 'an integer', n)
  if (!Number.isSafeInteger(n)) throw new TroupeRangeError('ERR_OUT_OF_RANGE', `${what} must be a safe integer, got ${n}`)
  return n
}

export class Counter extends Block {
  private readonly counter: CounterMachine

  constructor(name = 'counter') {
    const machine = new CounterMachine()
    super('counter', name, machine)
    this.counter = machine
  }

  /** Adds `delta` (default 1); resolves with the value right after it, in the one order. */
  async add(delta = 1): Promise<number> {
    return (await this.submit({ o: 'add', d: safe('the delta of add()', delta) })) as number
  }

  /** Sets it to `update` if it is `expect` at that point in the one order; resolves with whether it did. */
  async compareAndSet(expect: number, update: number): Promise<boolean> {
    return (await this.submit({ o: 'cas', e: safe('expect of compareAndSet()', expect), u: safe('update of compareAndSet()', update) })) as boolean
  }

  /** The value at a point in the one order after this call (linearisable). */
  async get(): Promise<number> {
    return (await this.submit({ o: 'get' })) as number
  }

  /** This member's copy, at once (what it has applied so far). */
  get value(): number {
    return this.counter.value
  }
}
