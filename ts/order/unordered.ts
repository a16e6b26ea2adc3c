// Unordered: reliable, but delivered as soon as it arrives. The native
// receive window delivers an unordered message on arrival even across a gap
// and remembers it so that it is neither NAKed nor delivered twice.
import type { Message, View } from '../message.js'
import type { OrderPolicy } from './policy.js'

export class UnorderedOrder implements OrderPolicy {
  readonly order = 'unordered' as const
  readonly held = 0
  onMessage(msg: Message, deliver: (msg: Message) => void): void {
    deliver(msg)
  }
  onView(_view: View): void {}
}
