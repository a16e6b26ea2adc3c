// The public API's types (the options of each call, what stats() and the
// events give) and the checks of the arguments Group's methods take. Group
// (group.ts) is the API itself; index.ts exports these types.
import { OrderCode } from './boundary.js'
import { argType, checkSignal, TroupeRangeError } from './errors.js'
import type { MessageBatch } from './batch.js'
import type { Message, View } from './message.js'
import type { Request } from './rpc/request.js'
import type { IncomingTransfer } from './transfer/incoming.js'
import { checkKeys, KEY_BYTES, oneOf, ORDERS, type Order } from './options.js'

export interface SendOptions {
  /** The delivery order (default 'fifo'). */
  order?: Order
  /** Sends it under this subject (`md.EUR.USD`): it goes to the members' matching subscribe() handlers, not to 'message'. */
  subject?: string
}
const SEND_KEYS = ['order', 'subject'] as const

/** What send() takes: bytes in any ArrayBuffer view or an ArrayBuffer (copied), or a string (sent as UTF-8). */
export type Data = string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer

export interface MessagesOptions {
  /** Messages the iterator may hold that the loop has not taken yet; at this many the member stops receiving until half are taken. Default 1024. */
  highWaterMark?: number
  /** Aborting it ends the iteration (the loop ends as after a break). */
  signal?: AbortSignal
}
export const MESSAGES_KEYS = ['highWaterMark', 'signal'] as const
export const DEFAULT_HIGH_WATER_MARK = 1024

/** messages()'s options (and subscribe()'s without a handler), checked: naming the call `what`. */
export function iterationOptions(what: string, options: MessagesOptions | undefined): { highWaterMark: number; signal: AbortSignal | undefined } {
  if (options !== undefined) checkOptions(what, options, MESSAGES_KEYS)
  const highWaterMark = options?.highWaterMark ?? DEFAULT_HIGH_WATER_MARK
  if (typeof highWaterMark !== 'number' || !Number.isInteger(highWaterMark)) throw argType(`option highWaterMark of ${what}`, 'an integer', highWaterMark)
  if (highWaterMark < 1 || highWaterMark > 1 << 24) throw new TroupeRangeError('ERR_OUT_OF_RANGE', `option highWaterMark of ${what} must be between 1 and ${1 << 24} messages, got ${highWaterMark}`)
  return { highWaterMark, signal: checkSignal(`option signal of ${what}`, options?.signal) }
}

export interface LeaveOptions {
  /** How long to wait for queued messages and the view change (ms). Default 2000. */
  timeout?: number
  /** Aborting it closes the member at once (as if it crashed; the others remove it) and rejects leave() with an AbortError. */
  signal?: AbortSignal
}
const LEAVE_KEYS = ['timeout', 'signal'] as const

/**
 * Option `to` of `what` (transfer(), request()): distinct member ids of
 * `view`, not `me` (`self` says why not). `nonEmpty`: at least one.
 */
export function checkMembers(what: string, to: unknown, me: string, view: View, self: string, nonEmpty: boolean): string[] {
  if (!Array.isArray(to) || (nonEmpty && to.length === 0) || !to.every((m) => typeof m === 'string')) {
    throw argType(`option to of ${what}`, nonEmpty ? 'a non-empty array of member ids' : 'an array of member ids', to)
  }
  const seen = new Set<string>()
  for (const m of to as string[]) {
    if (m === me) throw new TroupeRangeError('ERR_INVALID_ARG_VALUE', `option to of ${what} names this member itself (${m}): ${self}`)
    if (!view.members.includes(m)) throw new TroupeRangeError('ERR_INVALID_ARG_VALUE', `option to of ${what} names ${m}, which is not in the current view (${view.members.join(', ')})`)
    if (seen.has(m)) throw new TroupeRangeError('ERR_INVALID_ARG_VALUE', `option to of ${what} names ${m} twice`)
    seen.add(m)
  }
  return [...seen]
}

/** rotateKey()'s arguments, checked; its grace period in ms. */
export function rotationOptions(key: unknown, options: { graceMs?: number }): number {
  if (!(key instanceof Uint8Array)) throw argType('the key of rotateKey()', 'a Uint8Array', key)
  if (key.length !== KEY_BYTES) throw new TroupeRangeError('ERR_OUT_OF_RANGE', `the key of rotateKey() must be ${KEY_BYTES} bytes, got ${key.length}`)
  checkOptions('rotateKey()', options, ['graceMs'])
  const { graceMs = 10_000 } = options
  if (typeof graceMs !== 'number') throw argType('option graceMs of rotateKey()', 'a number', graceMs)
  if (!(graceMs >= 0 && graceMs <= 86_400_000)) throw new TroupeRangeError('ERR_OUT_OF_RANGE', `option graceMs of rotateKey() must be between 0 and 86400000 ms, got ${graceMs}`)
  return graceMs
}

/** leave()'s options (or its timeout alone), checked. */
export function leaveOptions(options: LeaveOptions | number | undefined): { timeoutMs: number; signal: AbortSignal | undefined } {
  let timeoutMs = 2000
  let signal: AbortSignal | undefined
  if (typeof options === 'number') timeoutMs = options
  else if (options !== undefined) {
    checkOptions('leave()', options, LEAVE_KEYS)
    timeoutMs = options.timeout ?? timeoutMs
    signal = checkSignal('option signal of leave()', options.signal)
  }
  if (typeof timeoutMs !== 'number') throw argType('the timeout of leave()', 'a number of ms', timeoutMs)
  if (!(timeoutMs >= 0 && timeoutMs <= 3_600_000)) throw new TroupeRangeError('ERR_OUT_OF_RANGE', `the timeout of leave() must be between 0 and 3600000 ms, got ${timeoutMs}`)
  return { timeoutMs, signal }
}

export interface SyncOptions {
  /** Aborting it rejects sync() with an AbortError (the barrier still takes its place in the group). */
  signal?: AbortSignal
}
export const SYNC_KEYS = ['signal'] as const

export interface GroupStats {
  me: string
  view: View
  /** The engine's counters (see `counterDocs` for what each means). */
  counters: Record<string, number>
  /** Bytes and messages queued by send() while the window was full (or the order credit used up). */
  pendingBytes: number
  pendingMessages: number
  /** Bytes of our own total and safe messages sent and not yet delivered here; at 2 × window, more wait in the queue. */
  orderedBytes: number
  /** Messages here waiting for their order (total, safe, causal, sync, and fifo ones behind them). */
  heldBack: number
  /** Bytes of messages in reassembly. */
  reassemblyBytes: number
  /** Messages dropped in reassembly (broken fragment runs, too large). */
  reassemblyDropped: number
  /** Membership CONTROL datagrams dropped as malformed or from an unknown sender. */
  controlRejected: number
  /** Messages dropped by the view rules (sent by non-members, or in views we were not in). */
  viewDropped: number
  /** Times this member was excluded and came back as a new incarnation. */
  rejoins: number
  /** Bulk transfers under way here, as source and as receiver; system-channel messages dropped (malformed). */
  transfers: { outgoing: number; incoming: number; dropped: number }
  /** Our requests waiting for answers; requests and replies dropped (malformed); replies to others received (only large ones go to everyone). */
  requests: { waiting: number; dropped: number; overheard: number }
  /**
   * Subscriptions here; messages with a subject none of them matched, that
   * reached JS (total, safe, causal or sync ones, fragmented ones); fifo and
   * unordered ones the engine dropped before JS (the counter subjectsSkipped);
   * malformed ones dropped.
   */
  subjects: { subscriptions: number; unmatched: number; skipped: number; dropped: number }
  /** udp-unicast: lookups of option peers ('dns:', 'srv:', 'file:', a function) and their failures, addresses found by them and by gossip, all known. */
  discovery?: { lookups: number; failures: number; lastError: string | null; found: number; gossiped: number; known: number }
  /** transport 'auto': members whose multicast does not reach us, which send to us by unicast (we asked); members we send to by unicast (they asked); whether our own datagrams come back to us by unicast (our multicast does not). */
  routes?: { unicastIn: string[]; unicastOut: string[]; ownByUnicast: boolean }
  /** Open groups: clients talking through this member now; clients in the ledger (what every member delivered of each); client messages delivered before and dropped; malformed ones dropped. */
  clients: { served: number; ledger: number; duplicates: number; dropped: number }
  /** Every other member's lag behind this member's stream. */
  members: MemberLag[]
}

export interface RouteInfo {
  member: string
  direction: 'in' | 'out'
  via: 'unicast' | 'multicast'
}

export interface BlockedInfo {
  /** true: this side of a partition holds no majority of the view, so it delivers nothing new; false: it goes on. */
  blocked: boolean
  reason: string
}

export interface MergeInfo {
  view: View
  /** The members of each side, as they come into the merged view. */
  sides: string[][]
}

export interface GroupEvents {
  message: [msg: Message]
  /**
   * The messages of one wake-up, in delivery order (the same ones 'message'
   * gets). Iterate it inside the callback: each step hands the same cursor,
   * and its bytes are valid only there (`toMessage()` copies one out). With
   * only 'batch' listeners (no 'message' listener, no iterator), fifo and
   * unordered messages reach it without a Message object each.
   */
  batch: [batch: MessageBatch]
  view: [view: View]
  /** A member started a transfer() to this one: read the stream (or pipe it to a file), or destroy() it. */
  transfer: [transfer: IncomingTransfer]
  /**
   * Another member's request() (in the order it asked for, among the group's
   * messages): answer with `req.reply(data)`, or return the reply (an async
   * handler's resolved value is its reply). A handler that throws answers
   * with the error; a member with no listener answers that it has none.
   */
  request: [req: Request]
  drain: []
  error: [err: Error]
  /** A minority side of a partition stops (and later goes on, or rejoins). */
  blocked: [info: BlockedInfo]
  /**
   * transport 'auto': a member's datagrams reach us by unicast now ('in':
   * its multicast does not), or we send to one by unicast ('out': ours do
   * not reach it); 'multicast' when that is over.
   */
  route: [info: RouteInfo]
  /** partitions: 'merge': sides that went on apart are one view again (emitted after its 'view'). */
  merge: [info: MergeInfo]
  /** This member was left out of the group's view (wrongly suspected, on a minority side, or evicted as slow) and is joining again as a new incarnation: `group.me` is already the new id. */
  rejoining: [reason: string]
  /** A member held this member's flow-control window full for slowReceiverTimeout (slowReceiver 'evict': it is being removed). */
  slow: [info: SlowInfo]
}

export interface SlowInfo {
  member: string
  /** Our messages it did not hold yet. */
  lag: number
  /** true with slowReceiver 'evict': a view without it follows. */
  evicting: boolean
}

/** How far one member is behind this member's stream (group.stats().members). */
export interface MemberLag {
  member: string
  /** Our messages it has acknowledged (cumulative) and those it does not hold yet. */
  acked: number
  lag: number
  /** How long it has held our flow-control window full (0: it does not). */
  behindMs: number
  /** Since we last heard from it. */
  silentMs: number
}

const FIFO = OrderCode.fifo
const SEND_ORDER_CODE: Readonly<Record<string, number>> = Object.freeze(Object.fromEntries(ORDERS.map((o) => [o, OrderCode[o]])))

/** The order code of send()'s options, checked as strictly as join's. */
export function sendOrder(options: SendOptions, what = 'send()'): number {
  if (typeof options !== 'object' || options === null) throw argType(`the options of ${what}`, 'an object', options)
  for (const key in options) if (key !== 'order' && key !== 'subject') checkKeys(what, options, SEND_KEYS)
  const order = options.order
  if (order === undefined) return FIFO
  const code = SEND_ORDER_CODE[order as string] // (a number only for an order's own name: not 'record', not 'constructor')
  return typeof code === 'number' ? code : OrderCode[oneOf(`option order of ${what}`, ORDERS, order)]
}

/** Any other argument checked as send()'s options are. */
export function checkOptions(what: string, options: unknown, known: readonly string[]): void {
  if (typeof options !== 'object' || options === null) throw argType(`the options of ${what}`, 'an object', options)
  checkKeys(what, options, known)
}

/** send()'s data as bytes (a view, not a copy: send() copies into the ring). */
export function toBytes(data: unknown, what = 'the data of send()'): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8')
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) return new Uint8Array(data)
  throw argType(what, 'a string, an ArrayBuffer or an ArrayBufferView (Buffer, Uint8Array or any TypedArray, DataView)', data)
}
