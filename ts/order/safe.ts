// Safe: total order, and delivered only once every member of the view holds
// the message (its last fragment): the core reports, per sender, how far
// every member holds the stream (stability from STATUS acks; a core that
// delivers a safe message acks early). At a view's end every survivor holds
// what is left, so it is safe then; during a flush the core's stability
// leaves out the members being excluded, so safe messages wait for the
// view's end instead.
import type { Message } from '../message.js'
import { Arrival, type Lane, type OrderPolicy } from './policy.js'
import { Queue } from './queue.js'
import type { TotalOrder } from './total.js'

export class SafeOrder implements OrderPolicy {
  readonly order = 'safe' as const
  private readonly last = new Map<string, Queue<number>>() // per lane: the last seq of each waiting safe message

  constructor(
    private readonly total: TotalOrder,
    /** At a view's end or barrier (every member holds what is left), or frozen for a flush. */
    private readonly phase: () => 'finishing' | 'frozen' | 'normal',
  ) {}

  unwrap(_lane: Lane, data: Uint8Array): Uint8Array {
    return data
  }

  onMessage(msg: Message, lane: Lane, last: number): Arrival {
    let q = this.last.get(lane.id)
    if (!q) this.last.set(lane.id, (q = new Queue()))
    q.push(last)
    return this.total.onMessage(msg, lane)
  }

  ready(lane: Lane): boolean {
    if (!this.total.ready(lane)) return false
    const phase = this.phase()
    return phase === 'finishing' || (phase === 'normal' && this.last.get(lane.id)!.peek()! <= lane.stableSeq)
  }

  onDelivered(lane: Lane, msg: Message): void {
    this.last.get(lane.id)?.shift()
    this.total.onDelivered(lane, msg)
  }

  /** Does a safe message of `lane` wait for stability? */
  waits(lane: Lane): boolean {
    return (this.last.get(lane.id)?.length ?? 0) > 0
  }

  onView(view: { members: readonly string[] }): void {
    for (const [id, q] of this.last) if (q.length === 0 || !view.members.includes(id)) this.last.delete(id)
  }
}
