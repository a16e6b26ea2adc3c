// One interface for every delivery order. A policy sees each message of its
// order once, in its sender's FIFO order (the native receive window's), and
// decides whether it goes at once or waits in its sender's lane, when a
// lane's head of its order may go, and what it keeps about members (pruned
// on a view change). The lanes, and the loop that delivers their heads as
// the policies allow, are holdback.ts's.
import type { Message, View } from '../message.js'
import type { Order } from '../options.js'
import type { Queue } from './queue.js'

/** One sender's messages that wait for their order, in its FIFO order. */
export interface Lane {
  readonly id: string
  readonly hex: string
  readonly waiting: Queue<Message>
  /** Its highest total or safe seq delivered (placements at or below are done). */
  totalDone: number
  /** Every member holds its stream up to here (safe delivery). */
  stableSeq: number
}

/** What onMessage decides. */
export const Arrival = {
  /** Delivered now, even ahead of its sender's waiting messages (unordered). */
  now: 0,
  /** Delivered now if nothing of its sender waits, else behind it (fifo). */
  inOrder: 1,
  /** Waits in its lane until `ready` says it may go. */
  waits: 2,
} as const
export type Arrival = (typeof Arrival)[keyof typeof Arrival]

export interface OrderPolicy {
  readonly order: Order
  /** The application's bytes of a message of this order (a policy that puts a header in front reads and strips it); null: malformed, dropped. */
  unwrap(lane: Lane, data: Uint8Array): Uint8Array | null
  /** A message of this order arrives (`last`: the seq of its last fragment). */
  onMessage(msg: Message, lane: Lane, last: number): Arrival
  /** May `msg`, of this order and at the head of `lane`, go now? */
  ready(lane: Lane, msg: Message): boolean
  /** `msg`, of this order, went from the head of `lane`. */
  onDelivered(lane: Lane, msg: Message): void
  /** A new view: forget what it keeps of members not in it. */
  onView(view: View, me: string): void
}
