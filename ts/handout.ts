// What the application is handed, and how: each delivered message to the
// 'message' listeners, to every iterator (inbox.ts), and into the batch the
// 'batch' listeners get once per wake-up (batch.ts). It also picks, per
// wake-up, how the member's common path (fifo and unordered, in order)
// reaches it: bytes read in place when only 'batch' listeners want them,
// else a Message made straight from the receive path. Group (group.ts) owns
// one.
import type { EventEmitter } from 'node:events'

import type { GroupEvents } from './api.js'
import { MessageBatch } from './batch.js'
import type { Inboxes } from './inbox.js'
import { Message } from './message.js'
import type { FastSink } from './node/receiver.js'
import { ORDERS } from './options.js'

/** How the common path's messages come during a batch: to `sink`; `inPlace`: as the ring's bytes. */
export interface FastPath {
  sink: FastSink
  inPlace: boolean
}

export class Handout {
  private readonly batch = new MessageBatch()
  /** In a batch: 'collect' if there are 'batch' listeners, else 'skip'; 'none' outside one. */
  private batching: 'none' | 'skip' | 'collect' = 'none'
  private readonly bytesPath: FastPath = { sink: this.batch, inPlace: true }
  /** No one takes messages (a member that only receives transfers): read in place, hand nothing. */
  private readonly nobodyPath: FastPath = { sink: { push: () => {} }, inPlace: true }
  private readonly messagePath: FastPath = {
    sink: { push: (sender, seq, order, bytes, start, end) => this.hand(new Message(sender, bytes.subarray(start, end), ORDERS[order]!, seq)) },
    inPlace: false,
  }

  constructor(private readonly events: EventEmitter<GroupEvents>, private readonly inboxes: Inboxes) {}

  /** What is handed from here to end() is one batch; returns how the common path should come. */
  begin(): FastPath {
    const e = this.events
    this.batching = e.listenerCount('batch') > 0 ? 'collect' : 'skip'
    if (this.inboxes.count > 0 || e.listenerCount('message') > 0) return this.messagePath
    return this.batching === 'collect' ? this.bytesPath : this.nobodyPath
  }

  /** The batch is over: the 'batch' listeners get it; it is emptied even when one throws. */
  end(): void {
    this.batching = 'none'
    if (this.batch.length === 0) return
    try {
      this.events.emit('batch', this.batch)
    } finally {
      this.batch.clear()
    }
  }

  /** A message for the application: to the 'message' listeners, every iterator, and the batch. */
  hand(msg: Message): void {
    this.events.emit('message', msg)
    if (this.inboxes.count > 0) this.inboxes.push(msg)
    if (this.batching === 'collect') this.batch.pushMessage(msg)
    else if (this.batching === 'none' && this.events.listenerCount('batch') > 0) {
      // Handed outside a wake-up or a tick (none today): a batch of one.
      this.batch.pushMessage(msg)
      this.end()
    }
  }
}
