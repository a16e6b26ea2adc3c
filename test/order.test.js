// The order policies and the hold-back (ts/order/), alone: lanes of fake
// senders, messages handed in per sender in FIFO order, deliveries watched.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { HoldBack } from '../dist/order/holdback.js'
import { Queue } from '../dist/order/queue.js'

const A = 'a#000000000000000a', B = 'b#000000000000000b', C = 'c#000000000000000c'
const CODE = { unordered: 0, fifo: 1, causal: 2, total: 3, safe: 4, sync: 5 }

/** A hold-back over lanes for `ids`, as member `me`; `got` lists 'sender-letter + tag' as delivered. */
function setup(ids, me, { coordinating = false, frozen = false } = {}) {
  const lanes = ids.map((id) => ({ id, hex: id.slice(-16), waiting: new Queue(), totalDone: 0, stableSeq: 0 }))
  const got = []
  const state = { coordinating, frozen, barriers: 0 }
  const hb = new HoldBack({
    deliver: (m) => got.push(`${m.sender[0]}${new TextDecoder().decode(m.data)}`),
    laneOf: (hex) => lanes.find((l) => l.hex === hex),
    lanes: () => lanes,
    coordinating: () => state.coordinating,
    frozen: () => state.frozen,
    wantBarrier: () => state.barriers++,
  }, { maxRecord: 1000, receiveOwn: true })
  hb.onView({ id: 1, members: ids, coordinator: ids[0] }, me)
  const seqs = new Map(ids.map((id) => [id, 0]))
  /** `lane` sends `tag` in `order` (the causal header from `header`, if given). */
  const send = (lane, order, tag, header = new Uint8Array(0)) => {
    const seq = seqs.get(lane.id) + 1
    seqs.set(lane.id, seq)
    const body = new TextEncoder().encode(tag)
    const data = new Uint8Array(header.length + body.length)
    data.set(header)
    data.set(body, header.length)
    assert.ok(hb.onMessage(lane, CODE[order], seq, seq, data), `${tag} taken`)
    return seq
  }
  const record = (...runs) => {
    const b = new Uint8Array(24 * runs.length)
    const v = new DataView(b.buffer)
    runs.forEach(([lane, first, last], k) => {
      v.setBigUint64(24 * k, BigInt('0x' + lane.hex), true)
      v.setFloat64(24 * k + 8, first, true)
      v.setFloat64(24 * k + 16, last, true)
    })
    return hb.onRecord(b)
  }
  return { hb, lanes, got, state, send, record }
}

test('order – unordered and fifo go at once; total waits for its place, and a fifo message waits behind its sender\'s total one', () => {
  const { lanes: [a, b], got, send, record, hb } = setup([A, B], B)
  send(a, 'unordered', 'u1')
  send(a, 'fifo', 'f1')
  const t = send(a, 'total', 't1')
  send(a, 'fifo', 'f2') // behind t1
  send(a, 'unordered', 'u2') // unordered never waits
  send(b, 'total', 't2')
  assert.equal(got, ['au1', 'af1', 'au2'])
  assert.is(hb.held, 3)
  assert.ok(record([b, 1, 1], [a, t, t]))
  assert.equal(got, ['au1', 'af1', 'au2', 'bt2', 'at1', 'af2'], 'the placed order, and the fifo message right after its total one')
  assert.is(hb.held, 0)
  assert.not.ok(hb.onRecord(new Uint8Array(5)), 'a malformed record is refused')
})

test('order – the sequencer places what it receives; records carry its order to the others', () => {
  const seq = setup([A, B, C], A, { coordinating: true })
  const other = setup([A, B, C], B)
  for (const x of [seq, other]) {
    x.send(x.lanes[2], 'total', 'x')
    x.send(x.lanes[1], 'total', 'y')
    x.send(x.lanes[2], 'safe', 'z')
  }
  const records = seq.hb.total.takeRecords()
  assert.is(records.length, 1)
  assert.equal(other.got, [], 'nothing goes before the record')
  for (const r of records) other.hb.onRecord(r)
  for (const r of records) seq.hb.onRecord(r)
  assert.equal(other.got, ['cx', 'by'], 'placed in the order received; the safe one waits for stability')
  assert.equal(seq.got, other.got)
  other.hb.onStable(other.lanes[2], 2)
  assert.equal(other.got, ['cx', 'by', 'cz'], 'held by every member: it goes')
  seq.send(seq.lanes[1], 'sync', 'w')
  other.send(other.lanes[1], 'sync', 'w')
  assert.is(seq.state.barriers, 1, 'a sync message makes the coordinator ask for a barrier')
  assert.is(other.state.barriers, 0)
})

test('order – a safe message waits while frozen for a flush, and at a barrier goes in the forced order', () => {
  const { lanes: [a, b], got, send, record, state, hb } = setup([A, B], B, { frozen: true })
  send(a, 'safe', 's1')
  send(b, 'total', 't1')
  record([a, 1, 1], [b, 1, 1])
  hb.onStable(a, 1)
  assert.equal(got, [], 'frozen: stability from the core is not used')
  send(b, 'sync', 'y')
  send(b, 'fifo', 'f')
  assert.is(state.barriers, 0, 'only the coordinator asks for a barrier')
  assert.not.ok(hb.syncWaiting(), "b's sync message is not at its lane's head yet")
  assert.ok(hb.deliverBarrier([a, b]), 'the barrier delivers the sync message')
  assert.equal(got, ['as1', 'bt1', 'by', 'bf'])
  assert.not.ok(hb.syncWaiting())
})

test('order – causal: a message waits for what its sender had delivered; unreachable ones are dropped at the view end', () => {
  // b's member sends a causal message after delivering a's causal message; c receives b's first.
  const atB = setup([A, B, C], B)
  atB.send(atB.lanes[0], 'causal', 'c1', oneVector(1, [0, 0, 0]))
  const header = atB.hb.causal.header() // b's next causal message depends on a's
  const atC = setup([A, B, C], C)
  atC.send(atC.lanes[1], 'causal', 'c2', header)
  atC.send(atC.lanes[1], 'fifo', 'f') // behind it
  assert.equal(atC.got, [], "b's message waits for a's")
  atC.send(atC.lanes[0], 'causal', 'c1', oneVector(1, [0, 0, 0]))
  assert.equal(atC.got, ['ac1', 'bc2', 'bf'])
  // At c again: one whose dependency never comes is dropped at the view's end, alike everywhere.
  const lost = setup([A, B, C], C)
  lost.send(lost.lanes[1], 'causal', 'c2', header)
  lost.send(lost.lanes[1], 'total', 't')
  lost.hb.finish(lost.lanes)
  assert.equal(lost.got, ['bt'], 'the causal one dropped, the total one behind it delivered')
  assert.is(lost.hb.causal.dropped, 1)
  assert.not.ok(lost.hb.onMessage(lost.lanes[0], 2, 9, 9, new Uint8Array([7, 0, 0, 0, 0])), 'a malformed causal header is refused')
  assert.not.ok(lost.hb.onMessage(lost.lanes[0], 6, 9, 9, new Uint8Array(1)), 'an unknown order is refused (6 and 7: no order; 8..13 are room messages)')
})

test('order – at a view end the sync messages go round by round, as barriers would', () => {
  const { lanes: [a, b], got, send, hb } = setup([A, B], A)
  send(a, 'sync', 'y1')
  send(a, 'total', 't1')
  send(a, 'sync', 'y2')
  send(b, 'total', 't2')
  send(b, 'sync', 'y3')
  hb.finish([a, b])
  // Round 1: unplaced totals by sender id (b's t2: a's head is a sync), then the first syncs (a's y1, b's y3);
  // round 2: a's t1, then a's y2.
  assert.equal(got, ['bt2', 'ay1', 'by3', 'at1', 'ay2'])
})

/** A causal header with a full vector (view `view`). */
function oneVector(view, counts) {
  const h = new Uint8Array(7 + 4 * counts.length)
  const v = new DataView(h.buffer)
  h[0] = 1
  v.setUint32(1, view, true)
  v.setUint16(5, counts.length, true)
  counts.forEach((c, k) => v.setUint32(7 + 4 * k, c, true))
  return h
}

test.run()
