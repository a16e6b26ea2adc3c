// The codes and record layouts that JS shares with the engine, as
// native/boundary.h declares them (read from the addon, never restated here):
// the order and fragment codes of every message, the ring record types, and
// where each field sits in an inbound record's payload.
import { addon } from './engine.js'
import { ORDERS, type Order } from './options.js'

const b = addon.boundary

/** An order's code in a message header (and a record's flags): `OrderCode.total` is 3. */
export const OrderCode: Readonly<Record<Order | 'system' | 'record', number>> = Object.freeze({ ...b.orders }) as Record<Order | 'system' | 'record', number>
/** Where a message's piece sits in a fragmented message (flags >> 4). */
export const FragCode: Readonly<{ whole: number; first: number; middle: number; last: number }> = Object.freeze({ ...b.frags }) as never

type RecordName = 'pad' | 'message' | 'peerUp' | 'peerDown' | 'control' | 'stable' | 'slow'
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
