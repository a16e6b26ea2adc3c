// The messages of bulk transfers, as they travel on the group's system
// channel (order code `system`: in the sender's stream order, never handed to
// the application). Every one starts with an 8-byte header:
//
//   0  u8  room        1: transfers (other rooms may share the channel later)
//   1  u8  kind        BEGIN, DATA, END, ABORT, ACK
//   2  u16 reserved    0
//   4  u32 id          the transfer's number at its source (ACK: at the source it answers)
//   8  ...             BEGIN: JSON { name, to, size }     DATA: the bytes
//                      END: f64 bytes, u32 crc32c         ABORT: JSON { reason }
//                      ACK: JSON { source, status, detail }
//
// Whatever does not parse is dropped and counted by the room, never delivered.

export const ROOM_TRANSFER = 1
export const HEADER = 8

export const Kind = { begin: 1, data: 2, end: 3, abort: 4, ack: 5 } as const
export type KindCode = (typeof Kind)[keyof typeof Kind]

/** What a receiver says of a transfer at its END. */
export type AckStatus = 'ok' | 'checksum' | 'unwanted' | 'destroyed'
const STATUSES: readonly AckStatus[] = ['ok', 'checksum', 'unwanted', 'destroyed']

export interface Begin {
  name: string
  to: string[]
  size: number | null
}
export interface End {
  bytes: number
  crc: number
}
export interface Ack {
  source: string
  status: AckStatus
  detail: string
}

export type Parsed =
  | { kind: typeof Kind.begin; id: number; begin: Begin }
  | { kind: typeof Kind.data; id: number; data: Uint8Array }
  | { kind: typeof Kind.end; id: number; end: End }
  | { kind: typeof Kind.abort; id: number; reason: string }
  | { kind: typeof Kind.ack; id: number; ack: Ack }

const utf8 = new TextDecoder('utf-8', { fatal: true })
const encoder = new TextEncoder()

/** Writes the header into `into` (which has room for it). */
export function writeHeader(into: Uint8Array, kind: KindCode, id: number): void {
  into[0] = ROOM_TRANSFER
  into[1] = kind
  into[2] = 0
  into[3] = 0
  new DataView(into.buffer, into.byteOffset, HEADER).setUint32(4, id, true)
}

function withJson(kind: KindCode, id: number, value: unknown): Uint8Array {
  const body = encoder.encode(JSON.stringify(value))
  const out = new Uint8Array(HEADER + body.length)
  writeHeader(out, kind, id)
  out.set(body, HEADER)
  return out
}

export const encodeBegin = (id: number, begin: Begin): Uint8Array => withJson(Kind.begin, id, begin)
export const encodeAbort = (id: number, reason: string): Uint8Array => withJson(Kind.abort, id, { reason })
export const encodeAck = (id: number, ack: Ack): Uint8Array => withJson(Kind.ack, id, ack)

export function encodeEnd(id: number, end: End): Uint8Array {
  const out = new Uint8Array(HEADER + 12)
  writeHeader(out, Kind.end, id)
  const v = new DataView(out.buffer)
  v.setFloat64(HEADER, end.bytes, true)
  v.setUint32(HEADER + 8, end.crc, true)
  return out
}

/** A system message as a transfer message; null if it is not one or is malformed. */
export function parse(data: Uint8Array): Parsed | null {
  if (data.length < HEADER || data[0] !== ROOM_TRANSFER) return null
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const id = v.getUint32(4, true)
  const body = data.subarray(HEADER)
  switch (data[1]) {
    case Kind.data:
      return { kind: Kind.data, id, data: body }
    case Kind.end: {
      if (body.length !== 12) return null
      const bytes = v.getFloat64(HEADER, true)
      if (!Number.isSafeInteger(bytes) || bytes < 0) return null
      return { kind: Kind.end, id, end: { bytes, crc: v.getUint32(HEADER + 8, true) } }
    }
    case Kind.begin: {
      const j = json(body)
      if (!isObject(j) || typeof j.name !== 'string' || !Array.isArray(j.to) || !j.to.every((m) => typeof m === 'string')) return null
      const size = j.size
      if (size !== null && !(Number.isSafeInteger(size) && (size as number) >= 0)) return null
      return { kind: Kind.begin, id, begin: { name: j.name, to: j.to as string[], size: size as number | null } }
    }
    case Kind.abort: {
      const j = json(body)
      if (!isObject(j) || typeof j.reason !== 'string') return null
      return { kind: Kind.abort, id, reason: j.reason }
    }
    case Kind.ack: {
      const j = json(body)
      if (!isObject(j) || typeof j.source !== 'string' || !STATUSES.includes(j.status as AckStatus) || typeof j.detail !== 'string') return null
      return { kind: Kind.ack, id, ack: { source: j.source, status: j.status as AckStatus, detail: j.detail } }
    }
    default:
      return null
  }
}

function json(body: Uint8Array): unknown {
  try {
    return JSON.parse(utf8.decode(body))
  } catch {
    return null
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}
