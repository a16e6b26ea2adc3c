// FIFO: per-sender order. The native receive window already delivers each
// sender's messages in seq order with no gaps; a fifo message waits only
// behind its sender's earlier messages that wait for their order (FIFO holds
// across the ordered kinds), and goes right after them.
import type { Message } from '../message.js'
import { Arrival, type Lane, type OrderPolicy } from './policy.js'

export class FifoOrder implements OrderPolicy {
  readonly order = 'fifo' as const
  unwrap(_lane: Lane, data: Uint8Array): Uint8Array {
    return data
  }
  onMessage(): Arrival {
    return Arrival.inOrder
  }
  ready(): boolean {
    return true
  }
  onDelivered(_lane: Lane, _msg: Message): void {}
  onView(): void {}
}
