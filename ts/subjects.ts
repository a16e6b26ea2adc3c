// Subjects: many streams of messages in one group (one membership, one set
// of sockets), named like NATS subjects: tokens separated by dots,
// `md.EUR.USD`. A subscription's pattern may use `*` for exactly one token and
// `>` (last) for one or more tokens: `md.EUR.*`, `md.>`. Subjects whose first
// token starts with `$` are the library's own (the building blocks,
// blocks/): only a pattern whose first token is literally the same matches
// them, never `*` or `>`.
//
// A message with a subject is a room message of the application channel
// (boundary.ts ROOM_BIT) in the order asked, so orders and virtual synchrony
// hold across subjects as for the whole group; it starts with
//
//   0  u8  room        3: subjects
//   1  u8  n           the subject's length in bytes (UTF-8, 1..255)
//   2  ...             the subject, then the application's bytes
//
// and is handed to the matching subscriptions only (never to 'message',
// 'batch' or the iterators). One room per group (group.ts, through rooms.ts).
import { addon } from './engine.js'
import { argType, TroupeRangeError, TroupeTypeError } from './errors.js'
import type { Inbox } from './inbox.js'
import { Message } from './message.js'
import type { RoomSink } from './node/receiver.js'
import { ORDERS, type Order } from './options.js'

export const ROOM_SUBJECTS = 3
if (addon.boundary.roomSubjects !== ROOM_SUBJECTS) throw new Error('troupe: the addon reads subjects with another room byte: a stale build of the addon (npm run build)')
const MAX_SUBJECT = 255
const CACHE = 4096 // subjects kept encoded (senders) and matched (receivers); cleared when full

/** A message sent with a subject, as a subscription's handler gets it. */
export class SubjectMessage extends Message {
  constructor(sender: string, data: Uint8Array, order: Order, seq: number, readonly subject: string) {
    super(sender, data, order, seq)
  }
}

export type SubjectHandler = (msg: SubjectMessage) => void

/** What subscribe() returns: with no handler, an async iterator of the messages too. */
export class Subscription implements AsyncIterable<SubjectMessage> {
  /** Messages handed to this subscription. */
  received = 0
  private active = true
  /** subscribe() without a handler: the messages wait here for the loop. */
  inbox: Inbox | null = null

  constructor(readonly pattern: string, readonly handler: SubjectHandler, private readonly remove: (s: Subscription) => void) {}

  get closed(): boolean {
    return !this.active
  }

  /** No more messages reach the handler (at once, even for messages of the batch being handed); a loop over it ends. */
  unsubscribe(): void {
    if (!this.active) return
    this.active = false
    this.remove(this)
    this.inbox?.finish()
  }

  [Symbol.asyncIterator](): AsyncIterator<SubjectMessage> {
    if (this.inbox === null) throw new TroupeTypeError('ERR_INVALID_ARG_TYPE', `subscribe('${this.pattern}') was given a handler: it is not iterable (subscribe without one to iterate)`)
    return this.inbox as AsyncIterator<SubjectMessage>
  }
}

const encoder = new TextEncoder()
const utf8 = new TextDecoder('utf-8', { fatal: true })

/** The tokens of a subject or pattern, or a reason it is not one. */
function tokensOf(s: string, what: string, wildcards: boolean): string[] {
  if (typeof s !== 'string') throw argType(what, 'a string', s)
  const bytes = encoder.encode(s).length
  if (bytes < 1 || bytes > MAX_SUBJECT) throw new TroupeRangeError('ERR_INVALID_ARG_VALUE', `${what} must be 1 to ${MAX_SUBJECT} bytes of UTF-8, got ${bytes}`)
  if (/\s/.test(s)) throw new TroupeRangeError('ERR_INVALID_ARG_VALUE', `${what} must not contain whitespace, got ${JSON.stringify(s)}`)
  const tokens = s.split('.')
  tokens.forEach((t, i) => {
    if (t === '') throw new TroupeRangeError('ERR_INVALID_ARG_VALUE', `${what} has an empty token (${JSON.stringify(s)}): tokens are separated by single dots`)
    const wild = t === '*' || t === '>'
    if (!wild && (t.includes('*') || t.includes('>'))) throw new TroupeRangeError('ERR_INVALID_ARG_VALUE', `${what}: '*' and '>' are whole tokens only, got ${JSON.stringify(t)}`)
    if (wild && !wildcards) throw new TroupeRangeError('ERR_INVALID_ARG_VALUE', `${what} names one subject: no wildcards ('*', '>') in a message's subject, got ${JSON.stringify(s)}`)
    if (t === '>' && i !== tokens.length - 1) throw new TroupeRangeError('ERR_INVALID_ARG_VALUE', `${what}: '>' must be the last token, got ${JSON.stringify(s)}`)
  })
  return tokens
}

/** Does `pattern` (its tokens) match `subject` (its tokens)? */
export function matches(pattern: readonly string[], subject: readonly string[]): boolean {
  if (subject[0]!.startsWith('$') && pattern[0] !== subject[0]) return false // the library's own: named only
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]
    if (p === '>') return subject.length > i
    if (i >= subject.length || (p !== '*' && p !== subject[i])) return false
  }
  return pattern.length === subject.length
}

/** A subject as received, once decoded and matched: its bytes, its name, the subscriptions it matches. */
interface Known {
  bytes: Uint8Array
  subject: string
  subs: Subscription[]
}

export class Subjects implements RoomSink {
  private readonly subs: { tokens: string[]; sub: Subscription }[] = []
  private readonly headers = new Map<string, Uint8Array>() // subject → room header (sender side)
  // Receiver side: subjects seen, by a hash of their bytes, so that a known
  // subject costs no decoding and no allocation (cleared when a subscription
  // comes or goes, and when it holds CACHE of them).
  private readonly known = new Map<number, Known[]>()
  private knownCount = 0
  /** Messages with a subject no subscription here matched; malformed ones (dropped). */
  unmatched = 0
  dropped = 0
  /** Called with the subscriptions' patterns whenever they change (Group hands them to the engine's filter). */
  onPatterns: ((patterns: string[]) => void) | null = null

  /** The patterns subscribed to now, each once. */
  get patterns(): string[] {
    return [...new Set(this.subs.map((s) => s.sub.pattern))]
  }

  get subscriptions(): number {
    return this.subs.length
  }

  subscribe(pattern: string, handler: SubjectHandler): Subscription {
    const tokens = tokensOf(pattern, 'the pattern of subscribe()', true)
    if (typeof handler !== 'function') throw argType('the handler of subscribe()', 'a function', handler)
    const sub = new Subscription(pattern, handler, (s) => {
      const i = this.subs.findIndex((x) => x.sub === s)
      if (i >= 0) this.subs.splice(i, 1)
      this.forget()
      this.onPatterns?.(this.patterns)
    })
    this.subs.push({ tokens, sub })
    this.forget()
    this.onPatterns?.(this.patterns)
    return sub
  }

  /** The room's frame of `subject` (checked; kept for the next send): what goes before the bytes, with ROOM_BIT. */
  header(subject: unknown): Uint8Array {
    let header = this.headers.get(subject as string)
    if (header === undefined) {
      tokensOf(subject as string, 'option subject of send()', false)
      const name = encoder.encode(subject as string)
      header = new Uint8Array(2 + name.length)
      header[0] = ROOM_SUBJECTS
      header[1] = name.length
      header.set(name, 2)
      if (this.headers.size >= CACHE) this.headers.clear()
      this.headers.set(subject as string, header)
    }
    return header
  }

  /** `data` framed with `subject`, as one buffer. */
  frame(subject: unknown, data: Uint8Array): Uint8Array {
    const header = this.header(subject)
    const out = new Uint8Array(header.length + data.length)
    out.set(header)
    out.set(data, header.length)
    return out
  }

  /** A room message of this room, delivered in its order (through the hold-back). */
  onMessage(msg: Message): void {
    this.take(msg.sender, msg.seq, ORDERS.indexOf(msg.order), msg.data, 0, msg.data.length, false)
  }

  /**
   * A message of the common path (node/receiver.ts), or of onMessage:
   * `bytes[start, end)` is the frame. To every matching subscription; a
   * subject nothing here matches costs a hash and a lookup. False if it is
   * not this room's.
   */
  take(sender: string, seq: number, order: number, bytes: Uint8Array, start: number, end: number, transient: boolean): boolean {
    if (bytes[start] !== ROOM_SUBJECTS) return false
    const n = bytes[start + 1] ?? 0
    const at = start + 2
    if (n === 0 || end - at < n) {
      this.dropped++
      return true
    }
    const known = this.lookup(bytes, at, n)
    if (known === null) {
      this.dropped++
      return true
    }
    if (known.subs.length === 0) {
      this.unmatched++
      return true
    }
    const data = transient ? bytes.slice(at + n, end) : bytes.subarray(at + n, end)
    const m = new SubjectMessage(sender, data, ORDERS[order]!, seq, known.subject)
    for (const sub of known.subs) {
      if (sub.closed) continue
      sub.received++
      sub.handler(m)
    }
    return true
  }

  /** The subject at `bytes[at, at + n)`, decoded and matched (cached); null if it is not a subject. */
  private lookup(bytes: Uint8Array, at: number, n: number): Known | null {
    let h = 2166136261
    for (let i = at; i < at + n; i++) h = Math.imul(h ^ bytes[i]!, 16777619)
    const bucket = this.known.get(h)
    if (bucket !== undefined) {
      for (const k of bucket) if (sameBytes(k.bytes, bytes, at, n)) return k
    }
    let subject: string
    let tokens: string[]
    try {
      subject = utf8.decode(bytes.subarray(at, at + n))
      tokens = tokensOf(subject, 'subject', false)
    } catch {
      return null
    }
    const k: Known = { bytes: bytes.slice(at, at + n), subject, subs: this.subs.filter((s) => matches(s.tokens, tokens)).map((s) => s.sub) }
    if (this.knownCount >= CACHE) this.forget()
    this.known.set(h, [...(bucket ?? []), k])
    this.knownCount++
    return k
  }

  private forget(): void {
    this.known.clear()
    this.knownCount = 0
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array, at: number, n: number): boolean {
  if (a.length !== n) return false
  for (let i = 0; i < n; i++) if (a[i] !== b[at + i]) return false
  return true
}
