// Requests and replies (group.request(), the 'request' event), a room built
// on the group as an application could be: a request is a message of the
// application channel in the order the asker chose, marked for this room;
// each reply goes to the asker alone as a direct message (node/direct.ts),
// or, when it does not fit one datagram, on the responder's system channel.
//
// View-aware: the members asked are those of the asker's view when it asks
// (but itself, or those `to` names). At a view without a member that has not
// answered, the member is counted as `left` (a reply of it that comes later
// is dropped), and the request resolves as soon as no one still to answer is
// in the view, never waiting for the timeout. A responder that leaves with
// leave() first sees its direct replies acknowledged (up to leave's timeout).
//
// Group (group.ts) owns one and feeds it the room's messages, the system
// channel's replies and the views.
import { checkMembers, checkOptions, sendOrder, toBytes, type Data } from '../api.js'
import { ROOM_BIT } from '../boundary.js'
import { AbortError, argType, checkSignal, throwIfAborted, TroupeError, TroupeRangeError } from '../errors.js'
import type { Message, View } from '../message.js'
import { REQUEST_KEYS, Request, Response, type RequestOptions, type Responses } from './request.js'
import { encodeReply, encodeRequest, HEADER, Kind, parseReply, parseRequest, type ReplyKind } from './wire.js'

const DEFAULT_TIMEOUT = 10_000
const encoder = new TextEncoder()
const utf8 = new TextDecoder()

/** What the room asks of its group. */
export interface RequestsPort {
  me(): string
  view(): View
  /** A request on the application channel (`code`: its order's, with ROOM_BIT). */
  send(message: Uint8Array, code: number): void
  /** A reply to `to` alone (a direct message; on the system channel if it does not fit one datagram), or to all (`to` null: the system channel); dropped once the group is closed. */
  reply(message: Uint8Array, to: string | null): void
  /** The 'request' listeners, in the order they were added. */
  handlers(): ((req: Request) => unknown)[]
  readonly maxMessageSize: number
}

interface Pending {
  readonly asked: ReadonlySet<string>
  readonly need: number
  readonly answered: Set<string> // replied, failed, or left
  readonly result: Responses
  resolve(result: Responses): void
  reject(error: Error): void
  end(): void // clears the timer and the abort listener
}

export class Requests {
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private meBytes = new Uint8Array(0)
  private meText = ''
  private closedWith: Error | null = null
  /** Room messages and replies dropped as malformed. */
  dropped = 0
  /** Replies to other members this member received (large ones go on the system channel, to everyone). */
  overheard = 0

  constructor(private readonly port: RequestsPort) {}

  /** Requests of ours still waiting for answers. */
  get waiting(): number {
    return this.pending.size
  }

  ask(data: Data, options: RequestOptions = {}): Promise<Responses> {
    checkOptions('request()', options, REQUEST_KEYS)
    const bytes = toBytes(data, 'the data of request()')
    const code = sendOrder({ order: options.order }, 'request()')
    const { responses = 'all', timeout = DEFAULT_TIMEOUT } = options
    if (typeof timeout !== 'number') throw argType('option timeout of request()', 'a number of ms', timeout)
    if (!(timeout >= 1 && timeout <= 3_600_000)) throw new TroupeRangeError('ERR_OUT_OF_RANGE', `option timeout of request() must be between 1 and 3600000 ms, got ${timeout}`)
    const signal = checkSignal('option signal of request()', options.signal)
    throwIfAborted(signal, 'request()')
    if (this.closedWith) throw this.closedWith
    if (HEADER + bytes.length > this.port.maxMessageSize) {
      throw new TroupeRangeError('ERR_TROUPE_MESSAGE_TOO_LARGE', `request(): a request of ${bytes.length} bytes is larger than maxMessageSize (${this.port.maxMessageSize}) less ${HEADER} bytes of header`)
    }
    const me = this.port.me()
    const view = this.port.view()
    const targets = options.to === undefined ? null : checkMembers('request()', options.to, me, view, 'it does not answer its own requests', true)
    const { replies = 'direct' } = options
    if (replies !== 'direct' && replies !== 'multicast') throw new TroupeRangeError('ERR_INVALID_ARG_VALUE', `option replies of request() must be 'direct' or 'multicast', got ${String(replies)}`)
    const asked = new Set(targets ?? view.members.filter((m) => m !== me))
    const need = wanted(responses, asked.size)
    const result = Object.assign([] as Response[], { left: [] as string[], failed: [] as { member: string; error: TroupeError }[] })
    if (asked.size === 0) return Promise.resolve(result)
    const id = this.nextId++
    return new Promise<Responses>((resolve, reject) => {
      const timer = setTimeout(() => {
        const silent = [...asked].filter((m) => !p.answered.has(m))
        this.settle(id, new TroupeError('ERR_TROUPE_REQUEST_TIMEOUT', `request(): ${result.length} of ${need} responses after ${timeout} ms (no answer from ${silent.join(', ')})`))
      }, timeout)
      const onAbort = () => this.settle(id, new AbortError('request() was aborted', { cause: signal!.reason }))
      signal?.addEventListener('abort', onAbort, { once: true })
      const p: Pending = {
        asked, need, answered: new Set(), result, resolve, reject,
        end: () => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
        },
      }
      this.pending.set(id, p)
      try {
        this.port.send(encodeRequest(id, bytes, targets, replies === 'multicast'), code | ROOM_BIT)
      } catch (err) {
        this.settle(id, err as Error) // (the send queue is full: ERR_TROUPE_BACKPRESSURE)
      }
    })
  }

  /** A message of this room, delivered in its order. */
  onMessage(msg: Message): void {
    const request = parseRequest(msg.data)
    if (request === null) {
      this.dropped++
      return
    }
    const asker = msg.sender
    const me = this.port.me()
    if (asker === me || (request.targets !== null && !request.targets.includes(me))) return // (our own, with receiveOwn; or not asked)
    const answer = (kind: ReplyKind, body: Uint8Array) => this.port.reply(encodeReply(kind, request.id, asker, body), request.toAll ? null : asker)
    const handlers = this.port.handlers()
    if (handlers.length === 0) return answer(Kind.unhandled, new Uint8Array(0))
    const req = new Request(asker, request.data, msg.order, (bytes) => {
      if (HEADER + 2 + bytes.length > this.port.maxMessageSize) {
        throw new TroupeRangeError('ERR_TROUPE_MESSAGE_TOO_LARGE', `reply(): a reply of ${bytes.length} bytes is larger than maxMessageSize (${this.port.maxMessageSize}) less its header`)
      }
      answer(Kind.reply, bytes)
    })
    const fail = (err: unknown) => {
      if (!req.replied) answer(Kind.failed, encoder.encode(err instanceof Error ? err.message : String(err)))
    }
    const give = (value: unknown) => {
      if (req.replied) return
      try {
        req.reply(value === undefined ? new Uint8Array(0) : (value as Data))
      } catch (err) {
        fail(err)
      }
    }
    for (const handler of handlers) {
      let value: unknown
      try {
        value = handler(req)
      } catch (err) {
        fail(err)
        continue
      }
      // An async handler's result is its reply; a plain handler replies with
      // what it returns, or later with req.reply().
      if (isThenable(value)) value.then(give, fail)
      else if (value !== undefined) give(value)
    }
  }

  /** A message of the system channel for this room: a reply (to us, or dropped after its header). */
  onReply(sender: string, data: Uint8Array): void {
    const me = this.port.me()
    if (me !== this.meText) {
      this.meText = me
      this.meBytes = encoder.encode(me)
    }
    const reply = parseReply(data, this.meBytes)
    if (reply === null) {
      this.dropped++
      return
    }
    if (reply === 'other') {
      this.overheard++
      return
    }
    const p = this.pending.get(reply.id)
    if (!p || !p.asked.has(sender) || p.answered.has(sender)) return
    p.answered.add(sender)
    if (reply.kind === Kind.reply) p.result.push(new Response(sender, reply.body))
    else {
      const why = reply.kind === Kind.unhandled ? "it has no 'request' listener" : `its handler failed: ${utf8.decode(reply.body)}`
      p.result.failed.push({ member: sender, error: new TroupeError('ERR_TROUPE_REQUEST_FAILED', `request(): ${sender} did not answer: ${why}`) })
    }
    this.check(reply.id, p)
  }

  /** A new view: members asked that are not in it will never answer. */
  onView(view: View): void {
    const members = new Set(view.members)
    for (const [id, p] of this.pending) {
      for (const m of p.asked) {
        if (members.has(m) || p.answered.has(m)) continue
        p.answered.add(m)
        p.result.left.push(m)
      }
      this.check(id, p)
    }
  }

  /** This incarnation is over (`final`: the group closed): every request waiting fails with `error`. */
  close(error: Error, final: boolean): void {
    if (final) this.closedWith = error
    for (const id of [...this.pending.keys()]) this.settle(id, error)
  }

  /** Resolves once enough answered, or no one still to answer is in the view. */
  private check(id: number, p: Pending): void {
    if (p.result.length >= p.need || p.answered.size === p.asked.size) this.settle(id, null)
  }

  private settle(id: number, error: Error | null): void {
    const p = this.pending.get(id)
    if (!p) return
    this.pending.delete(id)
    p.end()
    if (error) p.reject(error)
    else p.resolve(p.result)
  }
}

/** The number of responses `responses` asks for, of `asked` members. */
function wanted(responses: unknown, asked: number): number {
  if (responses === 'all') return asked
  if (responses === 'first') return Math.min(1, asked)
  if (responses === 'majority') return Math.floor(asked / 2) + 1
  if (typeof responses === 'number') {
    if (!Number.isInteger(responses) || responses < 1) throw new TroupeRangeError('ERR_OUT_OF_RANGE', `option responses of request() must be 'all', 'first', 'majority' or an integer of at least 1, got ${responses}`)
    return responses
  }
  throw argType("option responses of request()", "'all', 'first', 'majority' or a number", responses)
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return typeof x === 'object' && x !== null && typeof (x as { then?: unknown }).then === 'function'
}
