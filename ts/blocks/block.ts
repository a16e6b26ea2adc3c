// What every building block shares: a replicated state machine (a Machine,
// sans-IO: fed operations in one order and views, nothing else) driven over
// a Group through its public API only. Each operation is a JSON message on
// the block's own subject (`$blocks.<kind>.<name>`) in total order, so every
// member applies the same operations in the same order; views come in
// delivery order among them (virtual synchrony), so what a view does to the
// state (a lock freed because its holder crashed) happens at the same point
// everywhere. The caller's promise settles when its own operation is applied
// here. The state reaches joiners through the group's state transfer
// (joinWith, join.ts, puts every block's snapshot into it).
import { EventEmitter } from 'node:events'

import type { Group } from '../group.js'
import type { View } from '../message.js'
import type { SubjectMessage } from '../subjects.js'
import { TroupeError, TroupeRangeError, TroupeTypeError } from '../errors.js'

/** An operation as it travels: the sender's number for it and the machine's own fields. */
export interface Op {
  i: number
  o: string
  [field: string]: unknown
}

/** An operation a machine asks its member to send (in total order, like the application's). */
export type Outgoing = Record<string, unknown> & { o: string }

/** A replicated state machine: deterministic, fed the same operations and views in the same order at every member. */
export interface Machine {
  /**
   * Applies `op` from `sender`; what it returns settles the sender's promise
   * (an Error rejects it). Null: malformed, dropped. 'later': it waits (a
   * merge is being reconciled); `settled` reports it when it is applied.
   */
  apply(op: Op, sender: string): { result: unknown } | null | 'later'
  /** A new view (or, when the block attaches, the current one): `members` are those in it; `me` this member. May ask to send an operation. */
  onView(members: readonly string[], me: string): Outgoing | null | void
  /** partitions 'merge': sides that went on apart are one view again (after its onView). May ask to send an operation. */
  onMerge?(sides: readonly (readonly string[])[], me: string): Outgoing | null
  /** Where a machine reports an operation it applied later ('later'). */
  settled?: (op: Op, sender: string, result: unknown) => void
  /** The state as JSON-able data, and back. */
  snapshot(): unknown
  restore(snapshot: unknown): void
}

const utf8 = new TextDecoder()
const NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/

interface Waiting {
  resolve(result: unknown): void
  reject(error: Error): void
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export abstract class Block<Events extends Record<keyof Events, any[]> = Record<string, any[]>> extends EventEmitter<Events> {
  /** The block's subject in its group. */
  readonly subject: string
  private attached: Group | null = null
  private nextId = 1
  private readonly waiting = new Map<number, Waiting>()
  /** Operations dropped as malformed. */
  dropped = 0

  protected constructor(readonly kind: string, readonly name: string, protected readonly machine: Machine) {
    super()
    if (typeof name !== 'string' || !NAME.test(name) || name.length > 200) {
      throw new TroupeRangeError('ERR_INVALID_ARG_VALUE', `the name of a ${kind} must be letters, digits, '_', '-', in dot-separated tokens (at most 200), got ${JSON.stringify(name)}`)
    }
    this.subject = `$blocks.${kind}.${name}`
  }

  /** The group it runs in (after joinWith() or the block's own join()). */
  get group(): Group {
    if (!this.attached) throw new TroupeError('ERR_TROUPE_CLOSED', `${this.kind} '${this.name}' is not in a group yet: pass it to joinWith()`)
    return this.attached
  }

  /** Leaves its group (the other blocks in it, and the application's use of it, end too). */
  close(): Promise<void> {
    return this.attached ? this.attached.leave() : Promise.resolve()
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** The state for the group's state transfer, and back (joinWith). @internal */
  snapshot(): unknown {
    return this.machine.snapshot()
  }

  /** @internal */
  restore(snapshot: unknown): void {
    this.machine.restore(snapshot)
  }

  /** Called by joinWith() once the group is joined, before any of its messages is handed out. @internal */
  attach(group: Group): void {
    if (this.attached) throw new TroupeError('ERR_TROUPE_UNSUPPORTED', `${this.kind} '${this.name}' is in a group already: a block belongs to one group`)
    this.attached = group
    group.subscribe(this.subject, (msg) => this.onMessage(msg))
    group.on('view', (view: View) => this.send(this.machine.onView(view.members, group.me)))
    group.on('merge', ({ sides }) => this.send(this.machine.onMerge?.(sides, group.me)))
    this.machine.settled = (op, sender, result) => this.settle(op, sender, result)
    group.on('rejoining', () => this.failAll(new TroupeError('ERR_TROUPE_REJOINED', `${this.kind} '${this.name}': this member was left out of the view and rejoins as a new incarnation; its operations in flight end (the group's state comes back with the rejoin)`)))
    void group.closed.then(() => this.failAll(new TroupeError('ERR_TROUPE_CLOSED', `${this.kind} '${this.name}': the group '${group.name}' was left`)))
    this.send(this.machine.onView(group.view.members, group.me))
  }

  /** An operation the machine asked for: sent, nobody waits for it. */
  private send(op: Outgoing | null | void): void {
    if (op) this.submit(op).catch(() => {}) // (the group closed: it no longer matters)
  }

  /** This member's id in the group. */
  protected get me(): string {
    return this.group.me
  }

  /** Sends an operation (numbered `i`) in total order; resolves with what the machine returned for it here. */
  protected submit(op: Record<string, unknown> & { o: string }, i = this.reserve()): Promise<unknown> {
    let bytes: Uint8Array
    const group = this.attached
    if (!group) return Promise.reject(new TroupeError('ERR_TROUPE_CLOSED', `${this.kind} '${this.name}' is not in a group yet: pass it to joinWith()`))
    try {
      bytes = Buffer.from(JSON.stringify({ ...op, i }))
    } catch (err) {
      return Promise.reject(new TroupeTypeError('ERR_INVALID_ARG_TYPE', `${this.kind} '${this.name}': the value must be JSON data (${(err as Error).message})`))
    }
    return new Promise((resolve, reject) => {
      this.waiting.set(i, { resolve, reject })
      try {
        group.send(bytes, { subject: this.subject, order: 'total' })
      } catch (err) {
        this.waiting.delete(i)
        reject(err)
      }
    })
  }

  /** A number for an operation of ours, to submit() with it (a lock request's id, known before it is sent). */
  protected reserve(): number {
    return this.nextId++
  }

  private onMessage(msg: SubjectMessage): void {
    let op: Op
    try {
      op = JSON.parse(utf8.decode(msg.data)) as Op
    } catch {
      this.dropped++
      return
    }
    if (typeof op !== 'object' || op === null || !Number.isSafeInteger(op.i) || typeof op.o !== 'string') {
      this.dropped++
      return
    }
    const applied = this.machine.apply(op, msg.sender)
    if (applied === null) {
      this.dropped++
      return
    }
    if (applied !== 'later') this.settle(op, msg.sender, applied.result)
  }

  /** Our operation `op` was applied here with `result`: its promise settles. */
  private settle(op: Op, sender: string, result: unknown): void {
    if (sender !== this.attached?.me) return
    const w = this.waiting.get(op.i)
    if (!w) return
    this.waiting.delete(op.i)
    if (result instanceof Error) w.reject(result)
    else w.resolve(result)
  }

  private failAll(error: Error): void {
    const waiting = [...this.waiting.values()]
    this.waiting.clear()
    for (const w of waiting) w.reject(error)
    this.onEnd(error)
  }

  /** Operations in flight failed (the group was left, or this member rejoins): what the block keeps of its own ends too. */
  protected onEnd(_error: Error): void {}
}
