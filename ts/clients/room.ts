// Open groups, the members' side: clients (clients/client.ts) that send to
// the group and ask it without being in its view. A room built on the group
// as an application could be, beside requests and subjects (rooms.ts).
//
// A client talks to one member at a time, its member, over a session: a
// reliable, ordered channel of CONTROL datagrams (node/direct.ts's, keyed by
// client and session here). The member puts each message of the client into
// its own stream as a room message, in the order the client asked for
// (ROOM_BIT on its code), so a client's total message takes its place in the
// one total order and virtual synchrony covers it as the member's own. Every
// member then delivers it as the client's (msg.sender = the client's id), to
// 'message' or, if it was a request or had a subject, to that room.
//
// The member tells the client its messages are held (HELD) only once its
// stream is stable up to them (every member holds them: the core's stable
// records), so a client whose member crashes sends again exactly what may be
// lost, through another member. Members drop what they delivered before by
// (client, seq): the ledger, which a joiner receives with the state transfer
// (Group wraps the application's getState/setState around it).
//
// A client that moves to another member (its member fell silent) names the
// one before; while that one is still in the view, what it forwarded may yet
// be delivered (at the flush that removes it), so the new member holds the
// client's messages back until that view (or sessionTimeout): the client's
// messages keep the order it sent them in.
//
// The member sends the client the view at each change; replies to a
// client's request reach its member as direct messages and go on in the
// session.
import { ROOM_BIT } from '../boundary.js'
import { Direct, MAX_DIRECT_MESSAGE } from '../node/direct.js'
import { Message, RoomMessage, type View } from '../message.js'
import { ORDERS } from '../options.js'
import {
  decodeClientControl, decodeSession, encodeClientControl, encodeForward, encodeSession, FRAME_HEADER_MAX, frameHeader,
  parseForward, parseFrame, RoomKind, SEND_HEADER, sessionControl, stampFrame, type ClientFrame,
} from './wire.js'

/** Sessions one member serves at most; a HELLO past it is not answered. */
const MAX_SESSIONS = 1024
/** Clients the ledger remembers; the one that sent longest ago makes room. */
const MAX_CLIENTS = 10_000
/** A client's messages one member holds back while the member it talked through before may still deliver its own (beyond, in number or bytes: they go). */
const MAX_PARKED = 65536
const MAX_PARKED_BYTES = 16 * 1024 * 1024
/**
 * The largest client message (as the group's maxMessageSize, if smaller):
 * one larger than a datagram comes in pieces over the session (node/direct.ts
 * puts them together, at most MAX_DIRECT_MESSAGE per session).
 */
const MAX_CLIENT_MESSAGE = MAX_DIRECT_MESSAGE - SEND_HEADER
/** Seqs a client's ledger entry holds above its floor (delivered out of seq order); past it the floor moves up. */
const MAX_ABOVE = 4096

export interface ClientsPort {
  me(): string
  view(): View
  /** This member answers clients: in a view, delivering its own messages (receiveOwn), not leaving. */
  accepting(): boolean
  /** A client's message into our stream: `header` then `bytes`, with order code `code` (ROOM_BIT set). */
  send(header: Uint8Array, bytes: Uint8Array, code: number): void
  /** A CONTROL payload to the sender with incarnation `hex`. */
  control(payload: Uint8Array, hex: string): void
  /** A direct message to member `to` (false: too large). */
  direct(to: string, bytes: Uint8Array): boolean
  /** A client's message, delivered: to the application, or to its room. */
  hand(msg: Message): void
  now(): number
  readonly retry: number
  readonly maxControl: number
  /** The group's maxMessageSize. */
  readonly maxMessageSize: number
  /** A session not heard from for this long is over. */
  readonly sessionTimeout: number
}

interface Session {
  readonly key: string
  readonly hex: string
  readonly number: number
  client: string | null // after its OPEN
  frame: Uint8Array | null // the header of its messages in our stream (after its OPEN), stamped for each
  heardAt: number
  held: number // the client's seqs up to here are held: said so
  waiting: [streamSeq: number, clientSeq: number][] // forwarded, delivered back here, not yet stable
  // The member the client talked through before, while it is in our view:
  // what it forwarded may still be delivered (at the flush that removes it),
  // so the client's messages wait here until then (or sessionTimeout), to
  // keep their order.
  after: string | null
  openedAt: number
  parked: { code: number; seq: number; bytes: Uint8Array }[] | null // SENDs waiting for `after` to go
  parkedBytes: number
}

export class Clients {
  private readonly sessions = new Map<string, Session>()
  private readonly byClient = new Map<string, Session>()
  private readonly link: Direct
  readonly ledger = new Ledger()
  /** The member each client talks through (its MOVED, or its first message we saw): where replies go. */
  private readonly via = new Map<string, string>()
  private stable = 0 // our own stream is stable up to here
  /** Frames and session messages dropped as malformed or out of place. */
  dropped = 0
  /** Client messages delivered before (sent again after a member failed), dropped. */
  duplicates = 0

  constructor(private readonly port: ClientsPort) {
    this.link = new Direct({
      send: (c, key) => {
        const s = this.sessions.get(key)
        if (!s) return
        port.control(sessionControl(c, s.number), s.hex)
      },
      deliver: (key, bytes) => this.onSession(key, bytes),
      now: () => port.now(),
      later: (flush) => queueMicrotask(flush),
      retry: port.retry,
      maxControl: port.maxControl - 4, // (the session number)
    })
  }

  /** Nothing this member sent its clients waits for an acknowledgement. */
  get idle(): boolean {
    return this.link.idle
  }

  /** Clients served by this member now. */
  get served(): number {
    return this.byClient.size
  }

  /** Is `id` a client whose messages this member delivered (a reply goes to it through its member)? */
  knows(id: string): boolean {
    return this.via.has(id)
  }

  /** The largest message a client may send through us (in pieces over the session past a datagram). */
  private get maxMessage(): number {
    return Math.max(0, Math.min(MAX_CLIENT_MESSAGE, this.port.maxMessageSize) - FRAME_HEADER_MAX)
  }

  // ------------------------------------------------------------ CONTROL from clients

  onControl(hex: string, payload: Uint8Array): void {
    const c = decodeClientControl(payload)
    if (c === null) {
      this.dropped++
      return
    }
    const now = this.port.now()
    switch (c.kind) {
      case 'hello': {
        if (!this.port.accepting() || this.sessions.size >= MAX_SESSIONS) return
        const view = this.port.view()
        this.port.control(encodeClientControl({ kind: 'welcome', view: view.id, maxMessage: this.maxMessage, members: [...view.members] }), hex)
        return
      }
      case 'data': {
        const key = `${hex}/${c.session}`
        let s = this.sessions.get(key)
        if (!s) {
          // A session starts with its first message (OPEN), and only here.
          if (!this.port.accepting() || this.sessions.size >= MAX_SESSIONS || !c.parts.some((p) => p.seq === 1)) return
          s = {
            key, hex, number: c.session, client: null, frame: null, heardAt: now, held: 0, waiting: [], after: null, openedAt: now,
            parked: null, parkedBytes: 0,
          }
          this.sessions.set(key, s)
        }
        s.heardAt = now
        this.link.onDirect(key, c.parts)
        return
      }
      case 'ack': {
        const s = this.sessions.get(`${hex}/${c.session}`)
        if (!s) return
        s.heardAt = now
        this.link.onAck(s.key, c.seq)
        return
      }
      case 'bye': {
        const s = this.sessions.get(`${hex}/${c.session}`)
        if (!s) return
        // Every member forgets the client at this point of our stream.
        if (s.client !== null) this.port.send(frameHeader(RoomKind.bye, 0, s.client, 0), new Uint8Array(0), ORDERS.indexOf('fifo') | ROOM_BIT)
        this.end(s)
      }
    }
  }

  /** A message of a session, in order. */
  private onSession(key: string, bytes: Uint8Array): void {
    const s = this.sessions.get(key)
    const m = decodeSession(bytes)
    if (!s || m === null) {
      this.dropped++
      return
    }
    if (m.type === 'open') {
      if (s.client !== null) return
      const client = `${m.name}#${s.hex}`
      const before = this.byClient.get(client)
      if (before) this.end(before) // (the client moved to a new session: the old one is over)
      s.client = client
      s.frame = frameHeader(RoomKind.message, 0, client, 0)
      this.byClient.set(client, s)
      // Every member sends the client's replies here from now on.
      this.port.send(frameHeader(RoomKind.moved, 0, client, 0), new Uint8Array(0), ORDERS.indexOf('fifo') | ROOM_BIT)
      if (m.previous !== null && m.previous !== this.port.me() && this.port.view().members.includes(m.previous)) {
        s.after = m.previous
        s.parked = []
      }
      this.tell(s, { type: 'view', view: this.port.view().id, members: [...this.port.view().members] })
    } else if (m.type === 'send') {
      if (s.client === null || m.bytes.length > this.maxMessage || (m.code & ~ROOM_BIT) >= ORDERS.length) {
        this.dropped++
        return
      }
      if (s.parked === null) this.forward(s, m.code, m.seq, m.bytes)
      else {
        s.parked.push({ code: m.code, seq: m.seq, bytes: m.bytes.slice() })
        s.parkedBytes += m.bytes.length
        if (s.parked.length >= MAX_PARKED || s.parkedBytes >= MAX_PARKED_BYTES) this.unpark(s)
      }
    } else if (m.type !== 'ping') {
      this.dropped++ // (a member's message type, from a client)
    }
  }

  private forward(s: Session, code: number, seq: number, bytes: Uint8Array): void {
    // (One header a session, stamped: the outbox copies it before send() returns.)
    this.port.send(stampFrame(s.frame!, code, seq), bytes, code | ROOM_BIT)
  }

  /** The client's member before is out of the view (or we waited long enough): its messages go on. */
  private unpark(s: Session): void {
    const parked = s.parked
    s.parked = null
    s.parkedBytes = 0
    s.after = null
    for (const p of parked ?? []) this.forward(s, p.code, p.seq, p.bytes)
  }

  private tell(s: Session, m: Parameters<typeof encodeSession>[0]): void {
    this.link.send(s.key, encodeSession(m))
  }

  private end(s: Session): void {
    this.sessions.delete(s.key)
    if (s.client !== null && this.byClient.get(s.client) === s) this.byClient.delete(s.client)
    this.link.onView([...this.sessions.keys()]) // (forgets the session's channel)
  }

  // ------------------------------------------------------------ the group's side

  /** A client's message (or BYE) in some member's stream, delivered here in its order. */
  onMessage(msg: Message): void {
    const f = parseFrame(msg.data)
    if (f === null) {
      this.dropped++
      return
    }
    if (f.kind === RoomKind.bye) {
      this.ledger.forget(f.client)
      this.via.delete(f.client)
      return
    }
    if (f.kind === RoomKind.moved) {
      this.via.set(f.client, msg.sender)
      return
    }
    if (f.kind !== RoomKind.message || (f.code & ~ROOM_BIT) >= ORDERS.length) {
      this.dropped++
      return
    }
    // (Stable once its last fragment is: a large one spans several seqs of our stream.)
    if (msg.sender === this.port.me()) this.forwarded(f, msg instanceof RoomMessage ? msg.lastSeq : msg.seq)
    // (A message that comes late, through the member before, does not turn the replies back there.)
    if (!this.via.has(f.client)) this.via.set(f.client, msg.sender)
    if (!this.ledger.fresh(f.client, f.seq)) {
      this.duplicates++
      return
    }
    const Kind = f.code & ROOM_BIT ? RoomMessage : Message
    this.port.hand(new Kind(f.client, f.bytes, ORDERS[f.code & ~ROOM_BIT]!, f.seq))
  }

  /** One of the clients' messages we forwarded is back, at `streamSeq` of our stream. */
  private forwarded(f: ClientFrame, streamSeq: number): void {
    const s = this.byClient.get(f.client)
    if (!s) return
    s.waiting.push([streamSeq, f.seq])
    if (streamSeq <= this.stable) this.acknowledge(s)
  }

  /**
   * Every member holds our stream up to `seq`: so every client message we
   * forwarded up to there (stream order is each client's seq order), and
   * those sent before them, whether or not back here yet.
   */
  onStable(seq: number): void {
    if (seq <= this.stable) return
    this.stable = seq
    for (const s of this.byClient.values()) this.acknowledge(s)
  }

  /** HELD to the client for what of its forwarded messages our stable stream holds. */
  private acknowledge(s: Session): void {
    let top = s.held
    let keep = 0
    for (const w of s.waiting) {
      if (w[0] <= this.stable) top = Math.max(top, w[1])
      else s.waiting[keep++] = w
    }
    s.waiting.length = keep
    if (top > s.held) {
      s.held = top
      this.tell(s, { type: 'held', seq: top })
    }
  }

  /** A reply of ours to client `to`: through its member. */
  reply(to: string, bytes: Uint8Array): void {
    const member = this.via.get(to)
    if (member === undefined) return
    if (member === this.port.me()) this.onForward(member, encodeForward(to, bytes))
    else if (!this.port.direct(member, encodeForward(to, bytes))) this.dropped++ // (larger than MAX_DIRECT_MESSAGE)
  }

  /** A reply for one of our clients, from `responder` (a direct message). */
  onForward(responder: string, data: Uint8Array): void {
    const f = parseForward(data)
    const s = f && this.byClient.get(f.client)
    if (!f || !s) {
      if (!f) this.dropped++
      return
    }
    if (2 + responder.length + f.reply.length > this.link.maxMessage) this.dropped++
    else this.tell(s, { type: 'reply', responder, bytes: f.reply })
  }

  onView(view: View): void {
    const here = new Set(view.members)
    for (const [client, member] of this.via) if (!here.has(member)) this.via.delete(client)
    for (const s of this.byClient.values()) {
      this.tell(s, { type: 'view', view: view.id, members: [...view.members] })
      if (s.after !== null && !here.has(s.after)) this.unpark(s)
    }
  }

  /** Retransmissions, and sessions gone silent. */
  tick(): void {
    const now = this.port.now()
    for (const s of [...this.sessions.values()]) {
      if (now - s.heardAt > this.port.sessionTimeout) this.end(s)
      else if (s.parked !== null && now - s.openedAt > this.port.sessionTimeout) this.unpark(s)
    }
    this.link.tick()
  }

  /** This member is leaving: its clients are told to move to another member now (not after suspectTimeout). */
  farewell(): void {
    for (const s of this.sessions.values()) this.port.control(encodeClientControl({ kind: 'bye', session: s.number }), s.hex)
  }

  /** This incarnation ends (left, or rejoining as a new one): its sessions end; clients find another member. */
  reset(): void {
    for (const s of [...this.sessions.values()]) this.end(s)
    this.via.clear()
    this.stable = 0
  }
}

/**
 * What every member delivered of each client: all seqs up to `floor`, and
 * those in `above`. The same at every member of a view (virtual synchrony),
 * given to joiners in the state transfer.
 */
export class Ledger {
  private readonly clients = new Map<string, { floor: number; above: Set<number> }>()

  get size(): number {
    return this.clients.size
  }

  /** True the first time `seq` of `client` is seen (and notes it); false after. */
  fresh(client: string, seq: number): boolean {
    let e = this.clients.get(client)
    if (e) this.clients.delete(client) // (re-inserted last: the map's order is the eviction order)
    else e = { floor: 0, above: new Set() }
    this.clients.set(client, e)
    if (this.clients.size > MAX_CLIENTS) this.clients.delete(this.clients.keys().next().value!)
    if (seq <= e.floor || e.above.has(seq)) return false
    e.above.add(seq)
    while (e.above.delete(e.floor + 1)) e.floor++
    if (e.above.size > MAX_ABOVE) {
      e.floor = Math.min(...e.above)
      e.above.delete(e.floor)
      while (e.above.delete(e.floor + 1)) e.floor++
    }
    return true
  }

  forget(client: string): void {
    this.clients.delete(client)
  }

  encode(): Uint8Array {
    const entries = [...this.clients].map(([client, e]) => [client, e.floor, [...e.above]])
    return new TextEncoder().encode(JSON.stringify(entries))
  }

  /** Replaces the ledger with an encoded one; false (and empty) if it does not parse. */
  load(bytes: Uint8Array): boolean {
    this.clients.clear()
    try {
      const entries: unknown = JSON.parse(new TextDecoder().decode(bytes))
      if (!Array.isArray(entries)) return false
      for (const x of entries.slice(0, MAX_CLIENTS)) {
        if (!Array.isArray(x) || typeof x[0] !== 'string' || !Number.isSafeInteger(x[1]) || !Array.isArray(x[2])) continue
        this.clients.set(x[0], { floor: x[1], above: new Set((x[2] as unknown[]).filter(Number.isSafeInteger).slice(0, MAX_ABOVE) as number[]) })
      }
      return true
    } catch {
      return false
    }
  }
}

/**
 * The state a joiner receives, with the ledger in front of the
 * application's: u32 n | n bytes of ledger | the application's state.
 */
export function wrapState(ledger: Ledger, app: { getState?: (() => Uint8Array) | undefined; setState?: ((state: Uint8Array) => void) | undefined }): { getState: () => Uint8Array; setState: (state: Uint8Array) => void } {
  return {
    getState: () => {
      const mine = ledger.encode()
      const theirs = app.getState ? app.getState() : new Uint8Array(0)
      const out = new Uint8Array(4 + mine.length + theirs.length)
      new DataView(out.buffer).setUint32(0, mine.length, true)
      out.set(mine, 4)
      out.set(theirs, 4 + mine.length)
      return out
    },
    setState: (state) => {
      const n = state.length >= 4 ? new DataView(state.buffer, state.byteOffset, state.length).getUint32(0, true) : 0
      ledger.load(state.subarray(4, 4 + n))
      app.setState?.(state.subarray(Math.min(state.length, 4 + n)))
    },
  }
}
