// One interface for every delivery order. A policy sees each message of its
// order once, in per-sender FIFO order (the native engine guarantees that,
// or for 'unordered', arrival order), decides what to hold back, and calls
// `deliver` for what may go to the application now. On a view change it
// prunes what it keeps about members that are gone.
import type { Message, View } from '../message.js'
import type { Order } from '../options.js'

export interface OrderPolicy {
  readonly order: Order
  /** Messages held back right now. */
  readonly held: number
  onMessage(msg: Message, deliver: (msg: Message) => void): void
  onView(view: View, deliver: (msg: Message) => void): void
}
