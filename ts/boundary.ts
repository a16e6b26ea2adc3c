// The codes and record layouts that JS shares with the engine, as
// native/boundary.h declares them (read from the addon, never restated here):
// the order and fragment codes of every message, the ring record types, and
// where each field sits in an inbound record's payload.
import { addon } from './engine.js'
import { ORDERS, type Order } from './options.js'

const b = addon.boundary

/** An order's code in a message header (and a record's flags): `OrderCode.total` is 3. */
export const OrderCode: Readonly<Record<Order | 'system' | 'record', number>> = Object.freeze({ ...b.orders }) as Record<Order | 'system' | 'record', number>
/**
 * OR'ed into an application order's code (8..13): the message starts with the
 * frame of one of the library's rooms on the application channel (requests,
 * rpc/); it is delivered in its order like any, then handed to that room.
 */
export const ROOM_BIT: number = b.room
if (ROOM_BIT !== 8) throw new Error('troupe: the addon has no room bit (boundary.room): a stale build of the addon (npm run build)')
/** The order that decides how a message is delivered: its code without ROOM_BIT (system and record codes as they are). */
export function baseOrder(code: number): number {
  return code < OrderCode.system ? code & ~ROOM_BIT : code
}
/** Where a message's piece sits in a fragmented message (flags >> 4). */
export const FragCode: Readonly<{ whole: number; first: number; middle: number; last: number }> = Object.freeze({ ...b.frags }) as never

type RecordName = 'pad' | 'message' | 'peerUp' | 'peerDown' | 'control' | 'stable' | 'slow' | 'skipped' | 'assembled' | 'messageAt'
/** Ring record types: `RecordType.message` is a message in either ring. */
export const RecordType: Readonly<Record<RecordName, number>> = Object.freeze(
  Object.fromEntries(Object.entries(b.records).map(([name, r]) => [name, r.type])),
) as Record<RecordName, number>

// The delivery orders are the public names of options.ts, numbered in that order.
ORDERS.forEach((order, code) => {
  if (OrderCode[order] !== code) throw new Error(`troupe: the addon numbers order '${order}' ${OrderCode[order]}, options.ts ${code}: a stale build of the addon (npm run build)`)
})

/** The byte offset of `field` in a `record`'s payload, as boundary.h lays it out. */
export function fieldAt(record: RecordName, field: string): number {
  const at = b.records[record]?.fields[field]
  if (at === undefined) throw new Error(`troupe: native/boundary.h has no field ${record}.${field}`)
  return at[0]
}
