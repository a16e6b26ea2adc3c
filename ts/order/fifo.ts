// FIFO: per-sender order. The native receive window already delivers each
// sender's messages in seq order with no gaps, so nothing is held here.
import type { Message, View } from '../message.js'
import type { OrderPolicy } from './policy.js'

export class FifoOrder implements OrderPolicy {
  readonly order = 'fifo' as const
  readonly held = 0
  onMessage(msg: Message, deliver: (msg: Message) => void): void {
    deliver(msg)
  }
  onView(_view: View): void {}
}
