// LockService: named locks, each held by at most one member at a time, the
// same holder in every member's eyes. A request joins the lock's queue in
// the group's total order, so the queue (and who is granted next) is one
// everywhere, and fair: first come (in that order), first served. A lock held
// or waited for by a member that leaves or crashes is dropped from the queue
// at the view without it, at the same point at every member: released once,
// everywhere, and granted to the next in line.
import { Block, type Machine, type Op } from './block.js'
import { AbortError, argType, checkSignal, throwIfAborted, TroupeError, TroupeRangeError } from '../errors.js'
import { checkOptions } from '../api.js'

interface Entry {
  member: string
  id: number // the member's number for its request
}

/** Who holds a lock now (the head of its queue); a 'granted' or 'released' event's detail. */
export interface LockEvent {
  lock: string
  member: string
  /** 'released' only: unlock() (or a request given up), or the member left the view. */
  reason?: 'unlock' | 'left'
}

/** The locks' state machine (sans-IO): one FIFO queue per lock name, its head the holder. */
export class LockMachine implements Machine {
  readonly queues = new Map<string, Entry[]>()
  onGrant: (lock: string, entry: Entry) => void = () => {}
  onRelease: (lock: string, entry: Entry, reason: 'unlock' | 'left') => void = () => {}

  apply(op: Op, sender: string): { result: unknown } | null {
    if (typeof op.n !== 'string') return null
    if (op.o === 'lock') {
      const q = this.queues.get(op.n) ?? []
      if (q.length === 0) this.queues.set(op.n, q)
      q.push({ member: sender, id: op.i })
      if (q.length === 1) this.onGrant(op.n, q[0]!)
      return { result: undefined }
    }
    if (op.o === 'unlock' && Number.isSafeInteger(op.r)) {
      const q = this.queues.get(op.n)
      const at = q ? q.findIndex((e) => e.member === sender && e.id === op.r) : -1
      if (at < 0) return { result: false }
      this.remove(op.n, q!, (e, i) => i === at, 'unlock')
      return { result: true }
    }
    return null
  }

  onView(members: readonly string[]): void {
    const here = new Set(members)
    for (const [lock, q] of [...this.queues]) this.remove(lock, q, (e) => !here.has(e.member), 'left')
  }

  /** Drops the entries `gone` picks; a new head is granted (once). */
  private remove(lock: string, q: Entry[], gone: (e: Entry, i: number) => boolean, reason: 'unlock' | 'left'): void {
    const head = q[0]
    const kept = q.filter((e, i) => !gone(e, i))
    if (kept.length === q.length) return
    if (head && kept[0] !== head) this.onRelease(lock, head, reason)
    if (kept.length === 0) this.queues.delete(lock)
    else this.queues.set(lock, kept)
    if (kept[0] && kept[0] !== head) this.onGrant(lock, kept[0])
  }

  holder(lock: string): Entry | undefined {
    return this.queues.get(lock)?.[0]
  }

  snapshot(): unknown {
    return [...this.queues].map(([lock, q]) => [lock, q.map((e) => [e.member, e.id])])
  }

  restore(snapshot: unknown): void {
    this.queues.clear()
    if (!Array.isArray(snapshot)) return
    for (const [lock, q] of snapshot as [string, [string, number][]][]) this.queues.set(lock, q.map(([member, id]) => ({ member, id })))
  }
}

export interface LockOptions {
  /** Give up (reject with an AbortError) when it fires before the lock is granted. */
  signal?: AbortSignal
  /** Give up after this many ms (ERR_TROUPE_LOCK_TIMEOUT). Default: wait as long as it takes. */
  timeout?: number
}

/** A granted lock: hold it until unlock(). */
export class LockHandle {
  private released = false
  constructor(readonly lock: string, private readonly service: LockService, private readonly id: number) {}

  /** Whether this member still holds it (false after unlock(), or once this member was left out of the view). */
  get held(): boolean {
    return !this.released && this.service.holds(this.lock, this.id)
  }

  /** Releases it everywhere; resolves once the release is applied here. A second call does nothing. */
  async unlock(): Promise<void> {
    if (this.released) return
    this.released = true
    await this.service.release(this.lock, this.id)
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.unlock()
  }
}

export interface LockServiceEvents {
  granted: [event: LockEvent]
  released: [event: LockEvent]
}

export class LockService extends Block<LockServiceEvents> {
  private readonly locks: LockMachine
  private readonly asking = new Map<number, { resolve: (h: LockHandle) => void; reject: (e: Error) => void }>()

  constructor(name = 'locks') {
    const machine = new LockMachine()
    super('locks', name, machine)
    this.locks = machine
    machine.onGrant = (lock, e) => {
      this.emit('granted', { lock, member: e.member })
      if (e.member !== this.group.me) return
      const waiter = this.asking.get(e.id)
      if (!waiter) return // given up: its release is on its way
      this.asking.delete(e.id)
      waiter.resolve(new LockHandle(lock, this, e.id))
    }
    machine.onRelease = (lock, e, reason) => this.emit('released', { lock, member: e.member, reason })
  }

  /** Resolves with a handle once this member holds `lock` (fair: in the group's total order of requests). */
  lock(lock: string, options: LockOptions = {}): Promise<LockHandle> {
    if (typeof lock !== 'string' || lock.length === 0) return Promise.reject(argType('the lock name of lock()', 'a non-empty string', lock))
    checkOptions('lock()', options, ['signal', 'timeout'])
    const signal = checkSignal('option signal of lock()', options.signal)
    const timeout = options.timeout
    if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout >= 1 && timeout <= 86_400_000))) {
      return Promise.reject(new TroupeRangeError('ERR_OUT_OF_RANGE', `option timeout of lock() must be between 1 and 86400000 ms, got ${String(timeout)}`))
    }
    throwIfAborted(signal, 'lock()')
    const id = this.reserve()
    return new Promise<LockHandle>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const giveUp = (error: Error) => {
        if (!this.asking.delete(id)) return
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        reject(error)
        void this.release(lock, id).catch(() => {}) // out of the queue (or, if granted meanwhile, released)
      }
      const onAbort = () => giveUp(new AbortError(`lock('${lock}') was aborted`, { cause: signal!.reason }))
      const settled = () => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      this.asking.set(id, {
        resolve: (handle) => {
          settled()
          resolve(handle)
        },
        reject: (error) => {
          settled()
          reject(error)
        },
      })
      if (timeout !== undefined) timer = setTimeout(() => giveUp(new TroupeError('ERR_TROUPE_LOCK_TIMEOUT', `lock('${lock}'): not granted within ${timeout} ms (held by ${this.holder(lock) ?? 'no one yet'})`)), timeout)
      signal?.addEventListener('abort', onAbort, { once: true })
      this.submit({ o: 'lock', n: lock }, id).catch((err: Error) => {
        const waiter = this.asking.get(id)
        this.asking.delete(id)
        waiter?.reject(err)
      })
    })
  }

  /** The member holding `lock` now, as this member has applied it. */
  holder(lock: string): string | undefined {
    return this.locks.holder(lock)?.member
  }

  /** Members waiting for `lock`, in the order they will get it (the holder first). */
  queue(lock: string): string[] {
    return (this.locks.queues.get(lock) ?? []).map((e) => e.member)
  }

  /** @internal */
  holds(lock: string, id: number): boolean {
    const h = this.locks.holder(lock)
    return h !== undefined && h.id === id && h.member === this.group.me
  }

  /** @internal */
  release(lock: string, id: number): Promise<unknown> {
    return this.submit({ o: 'unlock', n: lock, r: id })
  }

  /** The group was left, or this member rejoins: requests waiting for a lock fail (the others dropped them at the view). */
  protected override onEnd(error: Error): void {
    const asking = [...this.asking.values()]
    this.asking.clear()
    for (const a of asking) a.reject(error)
  }
}
