// What the member delivers, as the application sees it, sans-IO (the live
// Group and the simulator run the same): a barrier's token is taken out and
// its waiter told, an application sync message loses its prefix byte, our own
// total and safe messages give their order credit back to the outbox, and
// without receiveOwn our own messages stop here (they were delivered only to
// take their place in the one order).
import { withData, type Message } from '../message.js'
import { SYNC_BARRIER, type Outbox } from './outbox.js'

interface Waiter {
  resolve: () => void
  reject: (err: Error) => void
}

export class Delivery {
  private readonly barriers = new Map<string, Waiter>()

  constructor(
    private readonly outbox: Outbox,
    private readonly config: { receiveOwn: boolean },
    /** Fills a barrier token with random bytes (crypto live, the seeded random in the simulator). */
    private readonly randomFill: (bytes: Uint8Array) => void,
  ) {}

  /** Barriers sent and not yet delivered here. */
  get barriersWaiting(): number {
    return this.barriers.size
  }

  /**
   * Sends a barrier (a sync message of our own). `done` resolves once it is
   * delivered here: every member delivers it after the same messages.
   * `cancel` forgets it (done then never settles; the caller rejects its own).
   */
  barrier(): { done: Promise<void>; cancel: () => void } {
    const token = new Uint8Array(9)
    this.randomFill(token)
    token[0] = SYNC_BARRIER
    const key = hex(token)
    const done = new Promise<void>((resolve, reject) => this.barriers.set(key, { resolve, reject }))
    this.outbox.sendBarrier(token)
    return { done, cancel: () => this.barriers.delete(key) }
  }

  /** Every barrier still waiting fails with `error` (the member closed). */
  failBarriers(error: Error): void {
    for (const waiter of this.barriers.values()) waiter.reject(error)
    this.barriers.clear()
  }

  /** A message the member delivered, as the application gets it; null: not for the application. */
  take(msg: Message, self: string): Message | null {
    const own = msg.sender === self
    if (own && (msg.order === 'total' || msg.order === 'safe')) this.outbox.placed(msg.data.length)
    if (msg.order === 'sync') {
      if (msg.data[0] === SYNC_BARRIER) {
        // A barrier: it has taken its place; the application never sees it.
        if (own) this.barrierDelivered(msg.data)
        return null
      }
      msg = withData(msg, msg.data.subarray(1))
    }
    if (own && !this.config.receiveOwn) return null
    return msg
  }

  private barrierDelivered(token: Uint8Array): void {
    const key = hex(token)
    const waiter = this.barriers.get(key)
    if (!waiter) return
    this.barriers.delete(key)
    waiter.resolve()
  }
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}
