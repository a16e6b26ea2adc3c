// The messages of requests and replies. Both start with an 8-byte header,
// like the transfers' (transfer/wire.ts), whose first byte names the room:
//
//   0  u8  room        2: requests
//   1  u8  kind        REQUEST; REPLY, FAILED, UNHANDLED
//   2  u16 reserved    0
//   4  u32 id          the request's number at its asker
//   8  ...             REQUEST: the application's bytes
//                      REPLY, FAILED, UNHANDLED: u16 n | the asker's id (n bytes of UTF-8) |
//                      REPLY: the reply's bytes; FAILED: the error's message (UTF-8)
//
// A REQUEST travels on the application channel in the order the asker chose,
// marked as a room's message (boundary.ts ROOM_BIT), so that it takes its
// place among the group's messages (a 'total' request is in the one total
// order) and is then handed to the room, not to 'message'. Replies travel on
// the system channel of the responder's stream (reliable, in its stream
// order, before any view that follows); every member receives them and all
// but the asker drop them after reading the header.
//
// Whatever does not parse is dropped and counted by the room, never delivered.

export const ROOM_REQUESTS = 2
export const HEADER = 8

export const Kind = { request: 1, reply: 2, failed: 3, unhandled: 4 } as const
export type ReplyKind = typeof Kind.reply | typeof Kind.failed | typeof Kind.unhandled

export interface Reply {
  kind: ReplyKind
  id: number
  /** REPLY: the bytes; FAILED: the error's message as UTF-8; UNHANDLED: empty. */
  body: Uint8Array
}

const encoder = new TextEncoder()

function header(into: Uint8Array, kind: number, id: number): DataView {
  const v = new DataView(into.buffer, into.byteOffset, into.byteLength)
  into[0] = ROOM_REQUESTS
  into[1] = kind
  v.setUint16(2, 0, true)
  v.setUint32(4, id, true)
  return v
}

export function encodeRequest(id: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + data.length)
  header(out, Kind.request, id)
  out.set(data, HEADER)
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

/** A room message as a request: its id and bytes; null if it is not one. */
export function parseRequest(data: Uint8Array): { id: number; data: Uint8Array } | null {
  if (data.length < HEADER || data[0] !== ROOM_REQUESTS || data[1] !== Kind.request) return null
  return { id: new DataView(data.buffer, data.byteOffset, HEADER).getUint32(4, true), data: data.subarray(HEADER) }
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
