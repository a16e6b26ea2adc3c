import type { Order } from './options.js'

const utf8 = new TextDecoder()

/** Bytes as UTF-8 text, and as JSON (a SyntaxError if they are not): what text() and json() of Message, Request and Response give. */
export function textOf(data: Uint8Array): string {
  return utf8.decode(data)
}
export function jsonOf<T>(data: Uint8Array): T {
  return JSON.parse(utf8.decode(data)) as T
}

/** One delivered message. `data` is a view into a buffer that is never reused: keep it as long as you like. */
export class Message {
  constructor(
    /** Member id of the sender. */
    readonly sender: string,
    readonly data: Uint8Array,
    /** The order the sender asked for. */
    readonly order: Order,
    /** The sender's sequence number of this message (of its first fragment, if fragmented). */
    readonly seq: number,
  ) {}

  /** The data as UTF-8 text (what `send('a string')` sent). */
  text(): string {
    return textOf(this.data)
  }

  /** The data parsed as JSON (what `send(JSON.stringify(value))` sent); a SyntaxError if it is not JSON. */
  json<T = unknown>(): T {
    return jsonOf<T>(this.data)
  }
}

/**
 * A message of one of the library's rooms on the application channel (its
 * order code had the room bit, boundary.ts ROOM_BIT): delivered in its order
 * like any message, then handed to its room (a request), never to 'message'.
 * Internal: not exported.
 */
export class RoomMessage extends Message {
  constructor(
    sender: string,
    data: Uint8Array,
    order: Order,
    seq: number,
    /** The sender's seq of its last fragment (`seq` if it was whole): where its stream must be stable for all of it. */
    readonly lastSeq: number = seq,
  ) {
    super(sender, data, order, seq)
  }
}

/** `msg` with `data` in place of its bytes (the same kind of message). */
export function withData(msg: Message, data: Uint8Array): Message {
  return msg instanceof RoomMessage ? new RoomMessage(msg.sender, data, msg.order, msg.seq, msg.lastSeq) : new Message(msg.sender, data, msg.order, msg.seq)
}

/** A membership view. Every member sees views in the same order (once views are agreed by the flush). */
export interface View {
  /** Grows with every change. */
  readonly id: number
  /** Member ids, oldest first. */
  readonly members: readonly string[]
  /** The oldest member. */
  readonly coordinator: string
}
