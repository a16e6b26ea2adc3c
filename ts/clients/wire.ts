// Open groups: what a client and the members say to each other.
//
// CONTROL payloads of the clients' channel (byte 0, from CLIENT_KINDS up; the
// membership protocol never sees them, member.ts hands them on):
//
//   HELLO    32 | name (UTF-8)                    client → every member: who takes me?
//   WELCOME  33 | u32 view | u32 maxMessage |     member → client: I would; the view
//            members (u8 n | n bytes of id)...
//   DATA     34 | u32 session | u16 count | parts  either way: a session's messages
//                                                  (node/direct.ts's parts: reliable, in order)
//   ACK      35 | u32 session | u32 seq            either way: every message up to seq arrived
//   BYE      36 | u32 session                      either way: the session ends (a member that
//                                                  leaves says so: its clients move on at once)
//
// A session's messages (the bytes of DATA parts; byte 0 is the type):
//
//   OPEN     1 | u8 n | previous | name (UTF-8)    client: the session's first message; previous:
//                                                  the member it talked through before (n = 0: none)
//   SEND     2 | u8 code | u32 seq | bytes         client: a message (code: its order's, with
//                                                  ROOM_BIT for a request or a subject)
//   PING     3                                     client: still here (idle)
//   VIEW     4 | u32 view | members (as WELCOME)   member: the view now
//   HELD     5 | u32 seq                           member: every member holds the client's
//                                                  messages up to seq (it need not send them again)
//   REPLY    6 | u8 n | responder id | bytes       member: a reply to one of the client's requests
//
// A client's message in its member's stream (a room message, first byte 4):
//
//   4 | u8 kind | u8 code | u8 n | client id | u32 seq | bytes     kind 1: a message
//   4 | u8 kind | u8 0    | u8 n | client id | u32 0               kind 2: the client said BYE
//                                                                   kind 3: the client talks through
//                                                                   this member from now on (its replies go here)
//
// and a reply on its way from a responder to the client's member (a direct
// message between members): 4 | u8 n | client id | the reply's bytes.
//
// Whatever does not parse is dropped and counted by its reader.
import { CLIENT_KINDS, decodeParts, encodeParts, isMember, type Control, type DirectPart } from '../membership/messages.js'

export const ROOM_CLIENTS = 4

export const Wire = { hello: CLIENT_KINDS, welcome: CLIENT_KINDS + 1, data: CLIENT_KINDS + 2, ack: CLIENT_KINDS + 3, bye: CLIENT_KINDS + 4 } as const
export const Session = { open: 1, send: 2, ping: 3, view: 4, held: 5, reply: 6 } as const
export const RoomKind = { message: 1, bye: 2, moved: 3 } as const

export type ClientControl =
  | { kind: 'hello'; name: string }
  | { kind: 'welcome'; view: number; maxMessage: number; members: string[] }
  | { kind: 'data'; session: number; parts: DirectPart[] }
  | { kind: 'ack'; session: number; seq: number }
  | { kind: 'bye'; session: number }

const encoder = new TextEncoder()
const utf8 = new TextDecoder('utf-8', { fatal: true })
const NAME = /^[^#\u0000-\u001f]{1,64}$/

export function encodeClientControl(c: ClientControl): Uint8Array {
  switch (c.kind) {
    case 'hello': return withKind(Wire.hello, encoder.encode(c.name))
    case 'welcome': {
      const members = encodeIds(c.members)
      const out = new Uint8Array(9 + members.length)
      const dv = view(out)
      out[0] = Wire.welcome
      dv.setUint32(1, c.view, true)
      dv.setUint32(5, c.maxMessage, true)
      out.set(members, 9)
      return out
    }
    case 'data': {
      const out = encodeParts(Wire.data, c.parts, 4)
      view(out).setUint32(1, c.session, true)
      return out
    }
    case 'ack': return u32s(Wire.ack, c.session, c.seq)
    case 'bye': return u32s(Wire.bye, c.session)
  }
}

/** A session's channel (node/direct.ts) speaks DATA and ACK: its 'direct' or 'directAck' as the CONTROL payload of `session`. */
export function sessionControl(c: Control, session: number): Uint8Array {
  if (c.kind === 'direct') return encodeClientControl({ kind: 'data', session, parts: c.parts })
  if (c.kind === 'directAck') return encodeClientControl({ kind: 'ack', session, seq: c.seq })
  throw new Error(`troupe: a session carries direct messages and their acks, not ${c.kind}`)
}

/** A CONTROL payload of the clients' channel; null if it is not a well-formed one. */
export function decodeClientControl(p: Uint8Array): ClientControl | null {
  try {
    const dv = view(p)
    switch (p[0]) {
      case Wire.hello: {
        const name = utf8.decode(p.subarray(1))
        return NAME.test(name) ? { kind: 'hello', name } : null
      }
      case Wire.welcome: {
        if (p.length < 9) return null
        const members = decodeIds(p, 9)
        return members && members.length > 0 ? { kind: 'welcome', view: dv.getUint32(1, true), maxMessage: dv.getUint32(5, true), members } : null
      }
      case Wire.data: {
        if (p.length < 5) return null
        const parts = decodeParts(p, 5)
        return parts ? { kind: 'data', session: dv.getUint32(1, true), parts } : null
      }
      case Wire.ack:
        return p.length === 9 && dv.getUint32(5, true) > 0 ? { kind: 'ack', session: dv.getUint32(1, true), seq: dv.getUint32(5, true) } : null
      case Wire.bye:
        return p.length === 5 ? { kind: 'bye', session: dv.getUint32(1, true) } : null
    }
  } catch {
    // (not UTF-8)
  }
  return null
}

// ------------------------------------------------------------ a session's messages

export type SessionMessage =
  | { type: 'open'; name: string; previous: string | null }
  | { type: 'send'; code: number; seq: number; bytes: Uint8Array }
  | { type: 'ping' }
  | { type: 'view'; view: number; members: string[] }
  | { type: 'held'; seq: number }
  | { type: 'reply'; responder: string; bytes: Uint8Array }

export function encodeSession(m: SessionMessage): Uint8Array {
  switch (m.type) {
    case 'open': {
      const previous = encoder.encode(m.previous ?? '')
      const name = encoder.encode(m.name)
      const out = new Uint8Array(2 + previous.length + name.length)
      out[0] = Session.open
      out[1] = previous.length
      out.set(previous, 2)
      out.set(name, 2 + previous.length)
      return out
    }
    case 'ping': return Uint8Array.of(Session.ping)
    case 'send': {
      const out = new Uint8Array(6 + m.bytes.length)
      out[0] = Session.send
      out[1] = m.code
      view(out).setUint32(2, m.seq, true)
      out.set(m.bytes, 6)
      return out
    }
    case 'view': {
      const members = encodeIds(m.members)
      const out = new Uint8Array(5 + members.length)
      out[0] = Session.view
      view(out).setUint32(1, m.view, true)
      out.set(members, 5)
      return out
    }
    case 'held': return u32s(Session.held, m.seq)
    case 'reply': {
      const id = encoder.encode(m.responder)
      const out = new Uint8Array(2 + id.length + m.bytes.length)
      out[0] = Session.reply
      out[1] = id.length
      out.set(id, 2)
      out.set(m.bytes, 2 + id.length)
      return out
    }
  }
}

/** Bytes a SEND takes before the message's own. */
export const SEND_HEADER = 6

export function decodeSession(p: Uint8Array): SessionMessage | null {
  try {
    const dv = view(p)
    switch (p[0]) {
      case Session.open: {
        const n = p[1] ?? 0
        if (p.length < 2 + n) return null
        const previous = n ? utf8.decode(p.subarray(2, 2 + n)) : null
        const name = utf8.decode(p.subarray(2 + n))
        return NAME.test(name) && (previous === null || isMember(previous)) ? { type: 'open', name, previous } : null
      }
      case Session.send:
        return p.length >= 6 && dv.getUint32(2, true) > 0 ? { type: 'send', code: p[1]!, seq: dv.getUint32(2, true), bytes: p.subarray(6) } : null
      case Session.ping:
        return p.length === 1 ? { type: 'ping' } : null
      case Session.view: {
        if (p.length < 5) return null
        const members = decodeIds(p, 5)
        return members ? { type: 'view', view: dv.getUint32(1, true), members } : null
      }
      case Session.held:
        return p.length === 5 ? { type: 'held', seq: dv.getUint32(1, true) } : null
      case Session.reply: {
        const n = p[1] ?? 0
        if (p.length < 2 + n) return null
        const responder = utf8.decode(p.subarray(2, 2 + n))
        return isMember(responder) ? { type: 'reply', responder, bytes: p.subarray(2 + n) } : null
      }
    }
  } catch {
    // (not UTF-8)
  }
  return null
}

// ------------------------------------------------------------ in a member's stream

export interface ClientFrame {
  kind: number
  /** The order code the client asked for (with ROOM_BIT for a request or subject). */
  code: number
  client: string
  seq: number
  bytes: Uint8Array
}

/** The header of a client's message in its member's stream; the bytes follow it. */
export function frameHeader(kind: number, code: number, client: string, seq: number): Uint8Array {
  const id = encoder.encode(client)
  const out = new Uint8Array(8 + id.length)
  out[0] = ROOM_CLIENTS
  out[1] = kind
  out[2] = code
  out[3] = id.length
  out.set(id, 4)
  view(out).setUint32(4 + id.length, seq, true)
  return out
}

/** Bytes a frame's header takes for a client id of at most 90 bytes (a member id's longest). */
export const FRAME_HEADER_MAX = 8 + 90

/** `header` (frameHeader's, of a message) for the client's next message: its code and seq written in place. */
export function stampFrame(header: Uint8Array, code: number, seq: number): Uint8Array {
  header[2] = code
  view(header).setUint32(header.length - 4, seq, true)
  return header
}

export function parseFrame(p: Uint8Array): ClientFrame | null {
  if (p.length < 8 || p[0] !== ROOM_CLIENTS) return null
  const n = p[3]!
  if (p.length < 8 + n) return null
  try {
    const client = utf8.decode(p.subarray(4, 4 + n))
    if (!isMember(client)) return null
    return { kind: p[1]!, code: p[2]!, client, seq: view(p).getUint32(4 + n, true), bytes: p.subarray(8 + n) }
  } catch {
    return null
  }
}

/** A reply for `client` on its way to the client's member. */
export function encodeForward(client: string, reply: Uint8Array): Uint8Array {
  const id = encoder.encode(client)
  const out = new Uint8Array(2 + id.length + reply.length)
  out[0] = ROOM_CLIENTS
  out[1] = id.length
  out.set(id, 2)
  out.set(reply, 2 + id.length)
  return out
}

export function parseForward(p: Uint8Array): { client: string; reply: Uint8Array } | null {
  const n = p[1] ?? 0
  if (p[0] !== ROOM_CLIENTS || p.length < 2 + n) return null
  try {
    const client = utf8.decode(p.subarray(2, 2 + n))
    return isMember(client) ? { client, reply: p.subarray(2 + n) } : null
  } catch {
    return null
  }
}

// ------------------------------------------------------------ helpers

function view(p: Uint8Array): DataView {
  return new DataView(p.buffer, p.byteOffset, p.byteLength)
}

/** `kind`, then each value as a u32. */
function u32s(kind: number, ...values: number[]): Uint8Array {
  const out = new Uint8Array(1 + 4 * values.length)
  out[0] = kind
  values.forEach((v, i) => view(out).setUint32(1 + 4 * i, v, true))
  return out
}

function withKind(kind: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + body.length)
  out[0] = kind
  out.set(body, 1)
  return out
}

function encodeIds(ids: readonly string[]): Uint8Array {
  const parts = ids.map((id) => encoder.encode(id))
  const out = new Uint8Array(parts.reduce((n, p) => n + 1 + p.length, 0))
  let at = 0
  for (const p of parts) {
    out[at] = p.length
    out.set(p, at + 1)
    at += 1 + p.length
  }
  return out
}

function decodeIds(p: Uint8Array, at: number): string[] | null {
  const ids: string[] = []
  while (at < p.length) {
    const n = p[at]!
    if (at + 1 + n > p.length || ids.length >= 256) return null
    const id = utf8.decode(p.subarray(at + 1, at + 1 + n))
    if (!isMember(id)) return null
    ids.push(id)
    at += 1 + n
  }
  return ids
}
