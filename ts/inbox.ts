// One async iterator over a group's messages (group.messages(), `for await
// (const msg of group)`), with backpressure: at `highWaterMark` messages not
// yet taken by the consumer the inbox says it is full, and the group stops
// taking records from its inbound ring until the inbox is down to half of
// that. The engine then stops reading its sockets, the kernel buffers, and the
// senders' flow-control windows hold the group back: what a slow 'message'
// handler does, without blocking the event loop.
import { AbortError } from './errors.js'
import type { Message } from './message.js'
import { Queue } from './order/queue.js'

/** What an inbox asks of its group. */
export interface InboxHost {
  /** The inbox reached its high-water mark (true) or drained to its low-water mark (false). */
  full(inbox: Inbox, full: boolean): void
  /** The iteration is over (break, return(), abort, or the group closed): forget the inbox. */
  ended(inbox: Inbox): void
}

export class Inbox implements AsyncIterableIterator<Message> {
  private readonly queue = new Queue<Message>()
  private waiter: { resolve: (r: IteratorResult<Message>) => void; reject: (e: unknown) => void } | null = null
  private isFull = false
  private done = false
  private failure: unknown = null
  private readonly onAbort = () => this.finish(new AbortError('messages(): the iteration was aborted', { cause: this.signal?.reason }), true)

  constructor(
    private readonly host: InboxHost,
    private readonly highWaterMark: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    signal?.addEventListener('abort', this.onAbort, { once: true })
  }

  get length(): number {
    return this.queue.length
  }

  /** A message delivered by the group. */
  push(msg: Message): void {
    if (this.done) return
    const w = this.waiter
    if (w) {
      this.waiter = null
      w.resolve({ value: msg, done: false })
      return
    }
    this.queue.push(msg)
    if (!this.isFull && this.queue.length >= this.highWaterMark) {
      this.isFull = true
      this.host.full(this, true)
    }
  }

  /**
   * Ends the iteration: after the messages already here (the group closed),
   * or at once (`now`: abort). An abort ends it quietly, like a break: the
   * loop's next() is done; an error from the group makes next() reject.
   */
  finish(error: unknown = null, now = false): void {
    if (this.done) return
    this.done = true
    this.signal?.removeEventListener('abort', this.onAbort)
    if (now) this.queue.clear()
    if (error !== null && !(error instanceof AbortError)) this.failure = error
    if (this.isFull) {
      this.isFull = false
      this.host.full(this, false)
    }
    this.host.ended(this)
    const w = this.waiter
    if (w && this.queue.length === 0) {
      this.waiter = null
      if (this.failure !== null) w.reject(this.failure)
      else w.resolve({ value: undefined, done: true })
    }
  }

  next(): Promise<IteratorResult<Message>> {
    if (this.queue.length > 0) {
      const value = this.queue.shift()!
      if (this.isFull && this.queue.length <= this.highWaterMark >> 1) {
        this.isFull = false
        this.host.full(this, false)
      }
      return Promise.resolve({ value, done: false })
    }
    if (this.done) {
      if (this.failure !== null) {
        const failure = this.failure
        this.failure = null
        return Promise.reject(failure)
      }
      return Promise.resolve({ value: undefined, done: true })
    }
    if (this.waiter) return Promise.reject(new TypeError('messages(): next() called again before the previous one settled'))
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }))
  }

  /** `break` out of the loop (or an error in its body) lands here: the inbox is dropped. */
  return(): Promise<IteratorResult<Message>> {
    this.finish(null, true)
    return Promise.resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}

/**
 * A group's iterators: each message goes to all of them; while any is full
 * the group holds its receiving (`held`), and `resume` runs once all have
 * caught up.
 */
export class Inboxes {
  private readonly all = new Set<Inbox>()
  private readonly fed = new Map<Inbox, () => void>() // fed by their owner (subscriptions): what to do when one ends
  private full = 0
  /** An iterator is full: take nothing more from the inbound ring. */
  held = false

  constructor(private readonly resume: () => void) {}

  private readonly host: InboxHost = {
    full: (_inbox, full) => {
      this.full += full ? 1 : -1
      const held = this.full > 0
      if (held === this.held) return
      this.held = held
      // Caught up: take what waits in the ring (on a fresh turn of the loop, not inside the consumer's next()).
      if (!held) setImmediate(this.resume)
    },
    ended: (inbox) => {
      this.all.delete(inbox)
      const onEnd = this.fed.get(inbox)
      this.fed.delete(inbox)
      onEnd?.()
    },
  }

  /** A new iterator; one of a closed group (or with its signal aborted) ends at once. */
  add(highWaterMark: number, signal: AbortSignal | undefined, closed: boolean): Inbox {
    const inbox = new Inbox(this.host, highWaterMark, signal)
    if (closed) inbox.finish()
    else if (signal?.aborted) inbox.finish(null, true)
    else this.all.add(inbox)
    return inbox
  }

  /**
   * An iterator its owner feeds (a subscription's messages), not every
   * message; full, it holds the group's receiving like any. `onEnd` runs
   * once it ends (break, abort, the group closed).
   */
  addFed(highWaterMark: number, signal: AbortSignal | undefined, onEnd: () => void): Inbox {
    const inbox = new Inbox(this.host, highWaterMark, signal)
    this.fed.set(inbox, onEnd)
    if (signal?.aborted) inbox.finish(null, true)
    return inbox
  }

  /** Iterators open now that take every message. */
  get count(): number {
    return this.all.size
  }

  push(msg: Message): void {
    for (const inbox of this.all) inbox.push(msg)
  }

  /** The group closed: every iteration ends (after what it holds), with `error` if there is one. */
  finishAll(error: Error | null): void {
    for (const inbox of [...this.all, ...this.fed.keys()]) inbox.finish(error)
  }
}

