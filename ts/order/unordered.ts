// Unordered: reliable, but delivered as soon as it arrives. The native
// receive window delivers an unordered message on arrival even across a gap
// and remembers it so that it is neither NAKed nor delivered twice; nothing
// of its sender that waits for its order holds it back either.
import type { Message } from '../message.js'
import { Arrival, type Lane, type OrderPolicy } from './policy.js'

export class UnorderedOrder implements OrderPolicy {
  readonly order = 'unordered' as const
  unwrap(_lane: Lane, data: Uint8Array): Uint8Array {
    return data
  }
  onMessage(): Arrival {
    return Arrival.now
  }
  ready(): boolean {
    return true
  }
  onDelivered(_lane: Lane, _msg: Message): void {}
  onView(): void {}
}
