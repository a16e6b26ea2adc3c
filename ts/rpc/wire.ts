// The messages of requests and replies. Both start with an 8-byte header,
// like the transfers' (transfer/wire.ts), whose first byte names the room:
//
//   0  u8  room        2: requests
//   1  u8  kind        REQUEST (replies direct), REQUEST_REPLY_TO_ALL (replies on the
//                      system channel: options replies 'multicast'); REPLY, FAILED, UNHANDLED
//   2  u16 targets     REQUEST: 0 (every other member), else how many members it
//                      names after the header (each u8 n | n bytes of its id); else 0
//   4  u32 id          the request's number at its asker
//   8  ...             REQUEST: [the targets,] the application's bytes
//                      REPLY, FAILED, UNHANDLED: u16 n | the asker's id (n bytes of UTF-8) |
//                      REPLY: the reply's bytes; FAILED: the error's message (UTF-8)
//
// A REQUEST travels on the application channel in the order the asker chose,
// marked as a room's message (boundary.ts ROOM_BIT), so that it takes its
// place among the group's messages (a 'total' request is in the one total
// order) and is then handed to the room, not to 'message'. A reply goes to
// the asker alone as a direct message (node/direct.ts); one too large for a
// datagram travels on the system channel of the responder's stream, where
// every member receives it and all but the asker drop it after the header.
//
// Whatever does not parse is dropped and counted by the room, never delivered.

export const ROOM_REQUESTS = 2
export const HEADER = 8

export const Kind = { request: 1, reply: 2, failed: 3, unhandled: 4, requestReplyToAll: 5 } as const
export type ReplyKind = typeof Kind.reply | typeof Kind.failed | typeof Kind.unhandled

export interface Reply {
  kind: ReplyKind
  id: number
  /** REPLY: the bytes; FAILED: the error's message as UTF-8; UNHANDLED: empty. */
  body: Uint8Array
}

const encoder = new TextEncoder()
const utf8 = new TextDecoder()

function header(into: Uint8Array, kind: number, id: number): DataView {
  const v = new DataView(into.buffer, into.byteOffset, into.byteLength)
  into[0] = ROOM_REQUESTS
  into[1] = kind
  v.setUint16(2, 0, true)
  v.setUint32(4, id, true)
  return v
}

/** A request to `targets` (null: every other member); `toAll`: its replies go on the system channel. */
export function encodeRequest(id: number, data: Uint8Array, targets: readonly string[] | null, toAll = false): Uint8Array {
  const names = (targets ?? []).map((t) => encoder.encode(t))
  let at = HEADER
  for (const n of names) at += 1 + n.length
  const out = new Uint8Array(at + data.length)
  header(out, toAll ? Kind.requestReplyToAll : Kind.request, id).setUint16(2, names.length, true)
  at = HEADER
  for (const n of names) {
    out[at] = n.length
    out.set(n, at + 1)
    at += 1 + n.length
  }
  out.set(data, at)
  return out
}

export function encodeReply(kind: ReplyKind, id: number, asker: string, body: Uint8Array): Uint8Array {
  const who = encoder.encode(asker)
  const out = new Uint8Array(HEADER + 2 + who.length + body.length)
  header(out, kind, id).setUint16(HEADER, who.length, true)
  out.set(who, HEADER + 2)
  out.set(body, HEADER + 2 + who.length)
  return out
}

/** A room message as a request: its id, the members it names (null: all), its bytes; null if it is not one. */
export function parseRequest(data: Uint8Array): { id: number; targets: string[] | null; toAll: boolean; data: Uint8Array } | null {
  if (data.length < HEADER || data[0] !== ROOM_REQUESTS || (data[1] !== Kind.request && data[1] !== Kind.requestReplyToAll)) return null
  const v = new DataView(data.buffer, data.byteOffset, HEADER)
  const count = v.getUint16(2, true)
  let at = HEADER
  let targets: string[] | null = null
  if (count > 0) {
    targets = []
    for (let i = 0; i < count; i++) {
      const n = data[at]
      if (n === undefined || at + 1 + n > data.length) return null
      targets.push(utf8.decode(data.subarray(at + 1, at + 1 + n)))
      at += 1 + n
    }
  }
  return { id: v.getUint32(4, true), targets, toAll: data[1] === Kind.requestReplyToAll, data: data.subarray(at) }
}

/**
 * A system message as a reply, if it is one for `me` (the header and the
 * asker's id are all that is read otherwise); 'other' for a well-formed reply
 * to someone else, null if malformed.
 */
export function parseReply(data: Uint8Array, me: Uint8Array): Reply | 'other' | null {
  if (data.length < HEADER + 2 || data[0] !== ROOM_REQUESTS) return null
  const kind = data[1]
  if (kind !== Kind.reply && kind !== Kind.failed && kind !== Kind.unhandled) return null
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const n = v.getUint16(HEADER, true)
  const at = HEADER + 2
  if (data.length < at + n) return null
  if (n !== me.length) return 'other'
  for (let i = 0; i < n; i++) if (data[at + i] !== me[i]) return 'other'
  return { kind, id: v.getUint32(4, true), body: data.subarray(at + n) }
}
