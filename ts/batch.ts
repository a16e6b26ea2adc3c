// The 'batch' event's batch: the messages delivered in one wake-up, handed
// over together, read through one cursor object that moves along them. On
// the common path (fifo or unordered, in order, nothing waiting for its
// order) a message is three numbers and a sender id in arrays kept from one
// batch to the next: no object, no view, nothing for the collector. Other
// messages (ordered by the hold-back, reassembled) come as the Message
// objects they already are. See group.ts for when the common path is taken.
import { ORDERS, type Order } from './options.js'
import { Message } from './message.js'

const utf8 = new TextDecoder()
const NO_BYTES = new Uint8Array(0)

/**
 * One message of a batch, as the cursor stands on it. Valid only inside the
 * 'batch' callback, and only until the loop moves on: keep `toMessage()` (a
 * copy) to hold it longer.
 */
export class BatchMessage {
  /** Member id of the sender. */
  sender = ''
  /** The order the sender asked for. */
  order: Order = 'fifo'
  /** The sender's sequence number of this message (of its first fragment, if fragmented). */
  seq = 0
  /** The bytes lie at buffer[offset, offset + length): read them there to allocate nothing. */
  buffer: Uint8Array = NO_BYTES
  offset = 0
  length = 0

  /** The bytes as a view (made on each access; valid only inside the callback). */
  get data(): Uint8Array {
    return this.buffer.subarray(this.offset, this.offset + this.length)
  }

  /** The data as UTF-8 text. */
  text(): string {
    return utf8.decode(this.data)
  }

  /** The data parsed as JSON; a SyntaxError if it is not JSON. */
  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T
  }

  /** A Message of its own (the bytes copied) that stays valid after the callback. */
  toMessage(): Message {
    return new Message(this.sender, this.buffer.slice(this.offset, this.offset + this.length), this.order, this.seq)
  }
}

/**
 * The messages of one delivery batch, in delivery order. Iterate it once
 * (`for (const m of batch)`): every step hands the same BatchMessage,
 * moved to the next message.
 */
export class MessageBatch implements Iterable<BatchMessage>, Iterator<BatchMessage> {
  /** Messages in the batch. */
  length = 0
  private capacity = 0
  private senders: string[] = []
  private buffers: Uint8Array[] = []
  private messages: (Message | null)[] = []
  private orders = new Uint8Array(0)
  private seqs = new Float64Array(0)
  private offsets = new Int32Array(0)
  private lengths = new Int32Array(0)
  private at = 0
  private readonly cursor = new BatchMessage()
  private readonly step: IteratorResult<BatchMessage> = { value: this.cursor, done: false }
  private readonly end: IteratorResult<BatchMessage> = { value: undefined, done: true }

  constructor() {
    this.grow(256)
  }

  /** A message on the common path: `bytes[start, end)`, order by its wire code. */
  push(sender: string, seq: number, order: number, bytes: Uint8Array, start: number, end: number): void {
    const i = this.length
    if (i === this.capacity) this.grow(2 * this.capacity)
    this.senders[i] = sender
    this.buffers[i] = bytes
    this.messages[i] = null
    this.orders[i] = order
    this.seqs[i] = seq
    this.offsets[i] = start
    this.lengths[i] = end - start
    this.length = i + 1
  }

  /** A message that is a Message already. */
  pushMessage(msg: Message): void {
    const i = this.length
    if (i === this.capacity) this.grow(2 * this.capacity)
    this.messages[i] = msg
    this.senders[i] = msg.sender
    this.buffers[i] = msg.data
    this.seqs[i] = msg.seq
    this.offsets[i] = 0
    this.lengths[i] = msg.data.length
    this.length = i + 1
  }

  /** Empties the batch, and lets go of what it pointed to. */
  clear(): void {
    for (let i = 0; i < this.length; i++) {
      this.buffers[i] = NO_BYTES
      this.messages[i] = null
    }
    this.length = 0
    this.at = 0
  }

  [Symbol.iterator](): Iterator<BatchMessage> {
    this.at = 0
    return this
  }

  next(): IteratorResult<BatchMessage> {
    const i = this.at
    if (i >= this.length) return this.end
    this.at = i + 1
    const c = this.cursor
    const msg = this.messages[i]!
    c.sender = this.senders[i]!
    c.seq = this.seqs[i]!
    c.buffer = this.buffers[i]!
    c.offset = this.offsets[i]!
    c.length = this.lengths[i]!
    c.order = msg === null ? ORDERS[this.orders[i]!]! : msg.order
    return this.step
  }

  private grow(capacity: number): void {
    const orders = new Uint8Array(capacity)
    const seqs = new Float64Array(capacity)
    const offsets = new Int32Array(capacity)
    const lengths = new Int32Array(capacity)
    orders.set(this.orders)
    seqs.set(this.seqs)
    offsets.set(this.offsets)
    lengths.set(this.lengths)
    this.orders = orders
    this.seqs = seqs
    this.offsets = offsets
    this.lengths = lengths
    this.capacity = capacity
  }
}
