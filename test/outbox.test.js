// The send path (ts/node/outbox.ts) and the delivery filter (ts/node/delivery.ts)
// alone, over a port whose room the test sets: what goes into the stream, in
// which order, what waits, and what the application gets back.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { FragCode, OrderCode } from '../dist/boundary.js'
import { Message } from '../dist/message.js'
import { Delivery } from '../dist/node/delivery.js'
import { Outbox, SYNC_BARRIER, SYNC_DATA } from '../dist/node/outbox.js'
import { throwsWith } from './helpers/assert.js'

/** A stream with room for `room` more records (Infinity: always); later() runs when the test says. */
function harness({ maxPayload = 100, maxPending = 1 << 20, orderedLimit = 1000, room = Infinity } = {}) {
  const h = {
    room,
    written: [], // { order, frag, bytes }
    later: [],
    drained: 0,
    waits: 0,
  }
  const port = {
    write(data, start, end, order, frag) {
      if (h.room <= 0) return false
      h.room--
      h.written.push({ order, frag, bytes: data.slice(start, end) })
      return true
    },
    waitForSpace() {
      h.waits++
      return h.room > 0
    },
    later(pump) {
      h.later.push(pump)
    },
    drained() {
      h.drained++
    },
  }
  h.outbox = new Outbox(port, { maxPayload, maxPending, orderedLimit }, () => Uint8Array.of(0xca, 0xfe))
  h.runLater = () => {
    const pumps = h.later.splice(0)
    for (const pump of pumps) pump()
  }
  return h
}

const bytes = (n, fill = 7) => new Uint8Array(n).fill(fill)

test('outbox – a large message queued past the room is copied into the memory the last one queued left: each message its own bytes', () => {
  const h = harness({ maxPayload: 64 * 1024, room: 0 })
  const memories = []
  const sendQueued = (fill) => {
    const data = bytes(256 * 1024, fill)
    assert.not.ok(h.outbox.send(data, OrderCode.fifo), 'no room: queued')
    data.fill(0) // the caller may reuse its buffer at once
    h.room = Infinity
    h.outbox.pump() // (the shell's call once there is room)
    assert.ok(h.outbox.idle, 'all of it written')
    h.room = 0
  }
  const port = h.outbox['port']
  const write0 = port.write
  port.write = (data, ...rest) => {
    const written = write0.call(port, data, ...rest)
    if (written) memories.push(data.buffer)
    return written
  }
  sendQueued(1)
  sendQueued(2)
  const small = Uint8Array.of(9, 9, 9)
  assert.not.ok(h.outbox.send(small, OrderCode.fifo), 'a small one queued too')
  h.room = Infinity
  h.outbox.pump()
  h.room = 0
  const smallWrite = h.written.pop()
  assert.equal([...smallWrite.bytes], [9, 9, 9])
  assert.ok(memories.pop() !== memories[0], 'not in the spare memory (it stays for the next large one)')
  sendQueued(3)
  const messages = [0, 1, 2].map((i) => h.written.slice(i * 4, i * 4 + 4))
  for (const [i, fragments] of messages.entries()) {
    assert.equal(fragments.map((w) => w.frag), [FragCode.first, FragCode.middle, FragCode.middle, FragCode.last], `message ${i + 1} in four fragments`)
    assert.ok(fragments.every((w) => w.bytes.every((b) => b === i + 1)), `message ${i + 1}: its own bytes`)
  }
  assert.ok(memories[4] === memories[0] && memories[8] === memories[0], 'the second and third in the memory of the first')
})

test('outbox – whole messages go straight into the stream; causal ones carry their header, sync ones a prefix byte', () => {
  const h = harness()
  assert.ok(h.outbox.send(bytes(3), OrderCode.fifo))
  assert.ok(h.outbox.send(bytes(2), OrderCode.causal))
  assert.ok(h.outbox.send(bytes(1), OrderCode.sync))
  assert.equal(h.written.map((w) => [w.order, w.frag, [...w.bytes]]), [
    [OrderCode.fifo, FragCode.whole, [7, 7, 7]],
    [OrderCode.causal, FragCode.whole, [0xca, 0xfe, 7, 7]],
    [OrderCode.sync, FragCode.whole, [SYNC_DATA, 7]],
  ])
  assert.ok(h.outbox.idle)
})

test('outbox – a large message goes in fragments: first, middle, last, each at most maxPayload', () => {
  const h = harness({ maxPayload: 100 })
  assert.ok(h.outbox.send(bytes(250), OrderCode.fifo))
  assert.equal(h.written.map((w) => [w.frag, w.bytes.length]), [[FragCode.first, 100], [FragCode.middle, 100], [FragCode.last, 50]])
})

test('outbox – no room: send() returns false, the message waits (a copy), and goes with one drain when there is room', () => {
  const h = harness({ room: 0 })
  const data = bytes(10)
  assert.not.ok(h.outbox.send(data, OrderCode.fifo))
  data.fill(9) // the caller may reuse its buffer
  assert.not.ok(h.outbox.send(bytes(10, 1), OrderCode.fifo), 'behind a queued message, another waits too')
  assert.is(h.outbox.pendingMessages, 2)
  assert.is(h.outbox.pendingBytes, 20)
  assert.is(h.drained, 0, "never 'drain' inside send()")
  h.room = Infinity
  h.outbox.pump()
  assert.equal(h.written.map((w) => w.bytes[0]), [7, 1], 'in the order sent, with the bytes as they were at send()')
  assert.is(h.drained, 1)
  assert.ok(h.outbox.idle)
})

test('outbox – past maxPending, send() throws ERR_TROUPE_BACKPRESSURE and keeps what it had', async () => {
  const h = harness({ room: 0, maxPending: 25 })
  h.outbox.send(bytes(20), OrderCode.fifo)
  await throwsWith(() => h.outbox.send(bytes(10), OrderCode.fifo), Error, /send queue is full/, 'ERR_TROUPE_BACKPRESSURE')
  assert.is(h.outbox.pendingMessages, 1)
})

//   stream:  [first frag of M] ... (no room) ... ORDER record arrives ... room
//   the rest of M goes before the record: a record never goes between fragments
test('outbox – ORDER records go ahead of queued messages, but never between the fragments of one', () => {
  const h = harness({ maxPayload: 100, room: 1 })
  assert.not.ok(h.outbox.send(bytes(250), OrderCode.total), 'only the first fragment had room')
  h.outbox.sendRecord(Uint8Array.of(42))
  h.outbox.send(bytes(5), OrderCode.fifo)
  h.room = Infinity
  h.outbox.pump()
  assert.equal(h.written.map((w) => [w.order, w.frag]), [
    [OrderCode.total, FragCode.first], [OrderCode.total, FragCode.middle], [OrderCode.total, FragCode.last],
    [OrderCode.record, FragCode.whole],
    [OrderCode.fifo, FragCode.whole],
  ])
  const h2 = harness({ room: 0 })
  h2.outbox.send(bytes(5), OrderCode.fifo)
  h2.outbox.sendRecord(Uint8Array.of(42))
  h2.room = Infinity
  h2.outbox.pump()
  assert.equal(h2.written.map((w) => w.order), [OrderCode.record, OrderCode.fifo], 'at a message boundary the record goes first')
})

test('outbox – order credit: total and safe messages wait past orderedLimit until earlier ones are placed; a fragmented one counts once', () => {
  const h = harness({ maxPayload: 100, orderedLimit: 500, room: 0 })
  // A fragmented total message whose first write finds no room: nothing counted yet.
  assert.not.ok(h.outbox.send(bytes(300), OrderCode.total))
  assert.is(h.outbox.orderedBytes, 0)
  h.room = 1
  h.outbox.pump() // its first fragment goes: now it counts
  assert.is(h.outbox.orderedBytes, 300)
  h.outbox.pump() // no room: nothing more, and not counted again
  h.outbox.pump()
  assert.is(h.outbox.orderedBytes, 300)
  h.room = Infinity
  h.outbox.pump()
  assert.is(h.outbox.orderedBytes, 300, 'counted once, however many pumps it took')
  assert.ok(h.outbox.send(bytes(150), OrderCode.safe))
  assert.is(h.outbox.orderedBytes, 450)
  assert.not.ok(h.outbox.send(bytes(100), OrderCode.total), '450 + 100 > 500: it waits for its credit')
  h.runLater() // the pump send() asked for: the message still has no credit
  assert.is(h.outbox.creditWaits, 1)
  assert.is(h.outbox.pendingMessages, 1)
  h.outbox.placed(300) // the first one was delivered back to us
  assert.is(h.later.length, 1, 'placed() asks for a pump')
  h.runLater()
  assert.is(h.outbox.pendingMessages, 0)
  assert.is(h.outbox.orderedBytes, 250)
  assert.is(h.drained, 2, "a 'drain' after each time send() returned false and the queue emptied")
})

test('outbox – fifo, causal and unordered messages never wait for order credit', () => {
  const h = harness({ orderedLimit: 10 })
  h.outbox.send(bytes(50), OrderCode.total)
  assert.not.ok(h.outbox.send(bytes(50), OrderCode.total))
  const h2 = harness({ orderedLimit: 10 })
  h2.outbox.send(bytes(50), OrderCode.total)
  for (const order of [OrderCode.fifo, OrderCode.causal, OrderCode.unordered]) assert.ok(h2.outbox.send(bytes(50), order))
})

test('delivery – a barrier is sent as a sync message, taken out of delivery, and its waiter resolved; sync data loses its prefix', async () => {
  const h = harness()
  const delivery = new Delivery(h.outbox, { receiveOwn: true }, (b) => b.fill(3))
  const { done } = delivery.barrier()
  assert.is(delivery.barriersWaiting, 1)
  const token = h.written[0]
  assert.is(token.order, OrderCode.sync)
  assert.is(token.bytes[0], SYNC_BARRIER)
  assert.is(delivery.take(new Message('other#1', token.bytes, 'sync', 1), 'me#2'), null, "someone else's barrier: not for the application")
  assert.is(delivery.barriersWaiting, 1, "someone else's barrier does not resolve ours")
  assert.is(delivery.take(new Message('me#2', token.bytes, 'sync', 1), 'me#2'), null)
  await done
  assert.is(delivery.barriersWaiting, 0)
  const msg = delivery.take(new Message('other#1', Uint8Array.of(SYNC_DATA, 5, 6), 'sync', 2), 'me#2')
  assert.equal([...msg.data], [5, 6])
})

test('delivery – our own total and safe messages give their credit back; without receiveOwn our own stop here', () => {
  const h = harness({ orderedLimit: 1000 })
  h.outbox.send(bytes(40), OrderCode.total)
  h.outbox.send(bytes(60), OrderCode.safe)
  assert.is(h.outbox.orderedBytes, 100)
  const delivery = new Delivery(h.outbox, { receiveOwn: false }, (b) => b.fill(1))
  assert.is(delivery.take(new Message('me#2', bytes(40), 'total', 1), 'me#2'), null)
  assert.is(delivery.take(new Message('me#2', bytes(60), 'safe', 2), 'me#2'), null)
  assert.is(h.outbox.orderedBytes, 0)
  const theirs = delivery.take(new Message('other#1', bytes(60), 'total', 3), 'me#2')
  assert.is(theirs.sender, 'other#1')
  assert.is(h.outbox.orderedBytes, 0, "others' messages do not touch our credit")
})

test('delivery – a closed member fails the barriers still waiting', async () => {
  const h = harness()
  const delivery = new Delivery(h.outbox, { receiveOwn: true }, (b) => b.fill(2))
  const { done } = delivery.barrier()
  delivery.failBarriers(new Error('closed'))
  try {
    await done
    assert.unreachable('resolved')
  } catch (err) {
    assert.is(err.message, 'closed')
  }
})

test.run()
