// Sync: a barrier. A sync message waits in its sender's lane (and its
// sender's later messages behind it) until the coordinator's barrier flush
// gives every member the same cut; then every member delivers what the cut
// holds, then the sync messages by sender id (holdback.ts deliverBarrier),
// so each member sees the same messages before it. At a view's end the sync
// messages left go round by round the same way.
import { Arrival, type Lane, type OrderPolicy } from './policy.js'

export class SyncOrder implements OrderPolicy {
  readonly order = 'sync' as const

  constructor(
    /** Are we the view's coordinator (who runs barriers)? */
    private readonly coordinating: () => boolean,
    /** Asks our membership for a barrier flush. */
    private readonly wantBarrier: () => void,
  ) {}

  unwrap(_lane: Lane, data: Uint8Array): Uint8Array {
    return data
  }

  onMessage(): Arrival {
    if (this.coordinating()) this.wantBarrier()
    return Arrival.waits
  }

  /** Only a barrier delivers it. */
  ready(): boolean {
    return false
  }

  onDelivered(): void {}

  onView(): void {}
}
