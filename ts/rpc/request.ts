// What each side of a request holds: the responder's Request (handed to the
// 'request' listeners, answered once with reply()) and the asker's Response
// and Responses (what group.request() resolves with).
import { toBytes, type Data } from '../api.js'
import { TroupeError } from '../errors.js'
import { jsonOf, textOf } from '../message.js'
import type { Order } from '../options.js'


/** A request from another member, as a 'request' listener gets it. */
export class Request {
  private answered = false

  constructor(
    /** Member id of the asker. */
    readonly sender: string,
    /** The request's bytes: a view that stays valid (never reused). */
    readonly data: Uint8Array,
    /** The order it was delivered in (the asker's `order` option). */
    readonly order: Order,
    private readonly answer: (data: Uint8Array) => void,
  ) {}

  /** Whether it was answered already (by reply(), or by a handler's return value). */
  get replied(): boolean {
    return this.answered
  }

  /** The data as UTF-8 text. */
  text(): string {
    return textOf(this.data)
  }

  /** The data parsed as JSON; a SyntaxError if it is not JSON. */
  json<T = unknown>(): T {
    return jsonOf<T>(this.data)
  }

  /**
   * Answers the asker (once; a second reply throws). The bytes are copied
   * before it returns. The reply reaches the asker reliably, before any view
   * change that follows it here.
   */
  reply(data: Data): void {
    const bytes = toBytes(data)
    if (this.answered) throw new TroupeError('ERR_TROUPE_ALREADY_REPLIED', `reply(): the request from ${this.sender} was answered already`)
    this.answer(bytes) // (throws when it is too large: not answered yet)
    this.answered = true
  }
}

/** One member's answer. */
export class Response {
  constructor(
    /** Member id of the responder. */
    readonly member: string,
    readonly data: Uint8Array,
  ) {}

  text(): string {
    return textOf(this.data)
  }

  json<T = unknown>(): T {
    return jsonOf<T>(this.data)
  }
}

/** What request() resolves with: the responses, in the order they came, and what became of the others. */
export type Responses = Response[] & {
  /** Members asked that left or crashed (a view without them) before answering. */
  left: string[]
  /** Members that answered with an error: their handler threw, or they had no 'request' listener (ERR_TROUPE_REQUEST_FAILED). */
  failed: { member: string; error: TroupeError }[]
}

/** How many answers request() waits for: every member asked, the first, more than half of them, or a number. */
export type ResponsesWanted = 'all' | 'first' | 'majority' | number

export interface RequestOptions {
  /** How many answers to wait for (default 'all'); it resolves sooner when the members still to answer left the view. */
  responses?: ResponsesWanted
  /** The order the request is delivered in among the group's messages (default 'fifo'; 'total' puts it in the one total order). */
  order?: Order
  /** Rejects with ERR_TROUPE_REQUEST_TIMEOUT after this many ms (default 10000). */
  timeout?: number
  /** Aborting it rejects with an AbortError (replies that come later are dropped). */
  signal?: AbortSignal
  /** Ask only these members (ids of the current view, not this one): one, for a request served by one replica. Default: every other member. */
  to?: readonly string[]
  /**
   * How the replies come: 'direct' (the default), to the asker alone; or
   * 'multicast', on each responder's own stream, received by every member
   * (fewer datagrams: lower latency in a small group, on loopback).
   */
  replies?: 'direct' | 'multicast'
}
export const REQUEST_KEYS = ['responses', 'order', 'timeout', 'signal', 'to', 'replies'] as const
