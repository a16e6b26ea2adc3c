// The 'batch' event: the batch and its cursor alone, then groups where one
// member takes only 'batch' events (the common path without Message
// objects, reading the inbound ring in place) beside members with
// 'message' listeners: the same messages, in the same orders.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Group } from '../dist/index.js'
import { MessageBatch } from '../dist/batch.js'
import { Message } from '../dist/message.js'
import { until, uniqueGroup } from './helpers/wait.js'

test('MessageBatch – one cursor walks bytes and Messages in the order pushed; toMessage copies; clear empties it', () => {
  const batch = new MessageBatch()
  const ring = Uint8Array.from({ length: 64 }, (_, i) => i)
  batch.push('a#1', 7, 1, ring, 10, 14) // fifo
  batch.pushMessage(new Message('b#2', Uint8Array.of(9, 9), 'total', 3))
  for (let i = 0; i < 300; i++) batch.push('a#1', 8 + i, 0, ring, i % 60, (i % 60) + 4) // unordered; grows past 256
  assert.is(batch.length, 302)
  const seen = []
  let cursor = null
  let copy = null
  for (const m of batch) {
    if (cursor === null) {
      cursor = m
      copy = m.toMessage()
    }
    assert.is(m, cursor, 'one cursor, moved along')
    seen.push([m.sender, m.seq, m.order, [...m.data], m.buffer[m.offset]])
  }
  assert.equal(seen[0], ['a#1', 7, 'fifo', [10, 11, 12, 13], 10])
  assert.equal(seen[1], ['b#2', 3, 'total', [9, 9], 9])
  assert.equal(seen[301], ['a#1', 307, 'unordered', [59, 60, 61, 62], 59])
  ring[10] = 99
  assert.ok(copy instanceof Message)
  assert.equal([...copy.data], [10, 11, 12, 13], 'toMessage() holds its own bytes')
  assert.is([...batch].length, 302, 'iterated again from the start')
  batch.clear()
  assert.is(batch.length, 0)
  assert.is([...batch].length, 0)
})

/** Joins `n` members of a fresh group and waits until each sees all. */
async function members(tag, n, options = () => ({})) {
  const name = uniqueGroup(tag)
  const all = []
  for (let i = 0; i < n; i++) all.push(await Group.join(name, { name: `m${i}`, ...options(i) }))
  await until(() => all.every((g) => g.view.members.length === n), { what: `a view of ${n}` })
  return { name, all }
}

const leaveAll = (all) => Promise.all(all.map((g) => g.leave()))

test("batch – a member with only 'batch' listeners gets what 'message' listeners get, fifo without Message objects, every order in place", async () => {
  const { all } = await members('batch', 3)
  const [a, b, c] = all
  try {
    const key = (sender, order, bytes) => `${sender === a.me ? 'a' : sender === b.me ? 'b' : 'c'}:${order}:${bytes[0]}:${bytes.length}`
    const viaBatch = [] // b: only a 'batch' listener
    const inPlace = { fifo: 0, copied: 0 }
    b.on('batch', (batch) => {
      for (const m of batch) {
        viaBatch.push(key(m.sender, m.order, m.data))
        // The common path hands the ring's bytes (far larger than the message); others are a Message's own.
        if (m.order === 'fifo' && m.length < 1000) {
          if (m.buffer.length > m.length) inPlace.fifo++
          else inPlace.copied++
        }
      }
    })
    const viaMessage = [] // c: only a 'message' listener
    c.on('message', (m) => viaMessage.push(key(m.sender, m.order, m.data)))
    const both = { message: [], batch: [] } // a: both, which must agree message for message
    a.on('message', (m) => both.message.push(key(m.sender, m.order, m.data)))
    a.on('batch', (batch) => {
      for (const m of batch) both.batch.push(key(m.sender, m.order, m.data))
    })

    const orders = ['fifo', 'fifo', 'fifo', 'causal', 'total', 'safe', 'unordered']
    const big = new Uint8Array(100_000).fill(7) // fragmented (over one datagram)
    let sent = 0
    for (let i = 0; i < 700; i++) {
      a.send(Uint8Array.of(i & 0xff, i >> 8), { order: orders[i % orders.length] })
      c.send(Uint8Array.of(i & 0xff), { order: orders[(i + 3) % orders.length] })
      sent += 2
      if (i % 100 === 50) {
        a.send(big)
        sent++
      }
    }
    b.send(Uint8Array.of(1, 2, 3), { order: 'sync' })
    sent++
    await a.sync()
    await until(() => viaBatch.length === sent && viaMessage.length === sent && both.message.length === sent, {
      timeout: 15000,
      what: 'every message at every member',
      detail: () => `sent ${sent}: batch ${viaBatch.length}, message ${viaMessage.length}, a ${both.message.length}`,
    })
    await until(() => both.batch.length === sent, { what: "a's last batch" })
    assert.equal(both.batch, both.message, "'batch' and 'message' listeners of one member see one sequence")
    const only = (list, pred) => list.filter((k) => pred(k.split(':')))
    for (const who of ['a', 'c']) {
      const fifoOf = (list) => only(list, ([w, o]) => w === who && o !== 'unordered' && o !== 'sync')
      assert.equal(fifoOf(viaBatch), fifoOf(viaMessage), `${who}'s messages in its FIFO order, batch as message`)
    }
    const ordered = (list) => only(list, ([, o]) => o === 'total' || o === 'safe')
    assert.equal(ordered(viaBatch), ordered(viaMessage), 'one total order')
    assert.equal(new Set(viaBatch), new Set(viaMessage), 'the same messages')
    assert.ok(only(viaBatch, ([, o, , len]) => o === 'fifo' && len === '100000').length === 7, 'the fragmented messages, whole')
    assert.ok(inPlace.fifo > 0, `fifo messages read in place (${inPlace.fifo} in place, ${inPlace.copied} as Messages)`)
  } finally {
    await leaveAll(all)
  }
})

test("batch – toMessage() keeps a message past the callback; a joiner comes in while a batch-only member receives", async () => {
  const { name, all } = await members('batch-join', 2)
  const [a, b] = all
  const kept = []
  let count = 0
  b.on('batch', (batch) => {
    for (const m of batch) {
      count++
      if (m.data[1] === 0) kept.push(m.toMessage()) // every 256th
    }
  })
  let joiner = null
  try {
    const total = 20_000
    const payload = new Uint8Array(100)
    let i = 0
    const pump = async () => {
      while (i < total) {
        payload[0] = i & 0xff
        payload[1] = i & 0xff
        payload[2] = i >> 8
        payload[3] = i >> 16
        i++
        if (!a.send(payload)) await new Promise((r) => a.once('drain', r))
        if (i % 500 === 0) await new Promise((r) => setImmediate(r))
      }
    }
    const sending = pump()
    await until(() => count > 1000, { what: 'traffic flowing' })
    joiner = await Group.join(name, { name: 'late' })
    await sending
    await until(() => count === total, { timeout: 15000, what: 'every message at the batch-only member', detail: () => `${count} of ${total}` })
    await until(() => [a, b, joiner].every((g) => g.view.members.length === 3), { what: 'the joiner in every view' })
    assert.equal(b.view, a.view, 'the batch-only member agrees on the view')
    assert.is(kept.length, Math.ceil(total / 256))
    kept.forEach((m, k) => {
      const n = m.data[2] * 256 + m.data[1] + m.data[3] * 65536
      assert.is(n, k * 256, 'a kept message still holds its own bytes')
      assert.is(m.data.length, 100)
    })
  } finally {
    await leaveAll(joiner ? [...all, joiner] : all)
  }
})

/**
 * 4,000 messages of 1,000 B from a in bursts (datagrams of up to 64 KiB) to
 * b ('batch') and c ('message'); `options(i)` for member i. Returns how
 * many reached b and c by reference.
 */
async function largeDatagrams(tag, options) {
  const { all } = await members(tag, 3, options)
  const [a, b, c] = all
  try {
    const N = 4000, SIZE = 1000
    const byteOf = (i, k) => (i * 7 + k * 13) & 0xff
    const bad = { b: 0, c: 0 }
    const got = { b: [], c: [] }
    let inUnits = 0
    let units = null
    b.on('batch', (batch) => {
      for (const m of batch) {
        if (m.sender !== a.me) continue
        const d = m.data
        const i = new DataView(d.buffer, d.byteOffset).getUint32(0, true)
        for (let k = 4; k < SIZE; k++) if (d[k] !== byteOf(i, k)) { bad.b++; break }
        got.b.push(i)
        if (m.buffer.length > 16 << 20) {
          inUnits++ // (the receive units; the ring is 8 MiB)
          units = m.buffer
        }
      }
    })
    const copies = []
    c.on('message', (m) => {
      if (m.sender !== a.me) return
      const i = new DataView(m.data.buffer, m.data.byteOffset).getUint32(0, true)
      got.c.push(i)
      copies.push(m.data) // kept past the handler, checked at the end
      if (i % 2 === 0) m.data.fill(0, 4) // a handler's writes are its own copy's
    })
    // In bursts, so that the sender fills datagrams (of up to 64 KiB on loopback).
    for (let i = 0; i < N; ) {
      for (let burst = 0; burst < 200 && i < N; burst++, i++) {
        const data = new Uint8Array(SIZE)
        new DataView(data.buffer).setUint32(0, i, true)
        for (let k = 4; k < SIZE; k++) data[k] = byteOf(i, k)
        if (!a.send(data)) await new Promise((resolve) => a.once('drain', resolve))
      }
      await new Promise((resolve) => setImmediate(resolve))
    }
    await until(() => got.b.length === N && got.c.length === N, { timeout: 20000, what: 'every message at b and c', detail: () => `b ${got.b.length}, c ${got.c.length}` })
    const inOrder = Array.from({ length: N }, (_, i) => i)
    assert.equal(got.b, inOrder, "b's in order")
    assert.equal(got.c, inOrder, "c's in order")
    assert.is(bad.b, 0, "every byte intact where b read it")
    for (const [i, d] of copies.entries()) {
      assert.ok(d.buffer.byteLength <= 1 << 20, 'a copy, not the receive units')
      for (let k = 4; k < SIZE; k++) if (d[k] !== (i % 2 === 0 ? 0 : byteOf(i, k))) { bad.c++; break }
    }
    assert.is(bad.c, 0, "c's copies hold what was sent (or what its handler wrote), after the handler")
    await until(() => b.stats().counters.pinnedUnits === 0 && c.stats().counters.pinnedUnits === 0, { what: 'the units handed back once read', detail: () => `${b.stats().counters.pinnedUnits} ${c.stats().counters.pinnedUnits}` })
    const result = { b: b.stats().counters.messagesReferenced, c: c.stats().counters.messagesReferenced, inUnits, N }
    return { ...result, units: () => units }
  } finally {
    await leaveAll(all)
  }
}

test("batch – messages of large datagrams reach JS where they were received: 'batch' reads them in the engine's receive units, 'message' gets a copy of its own; every byte intact, the units handed back", async () => {
  const { b, c, inUnits, N, units } = await largeDatagrams('batch-at')
  assert.ok(b > N / 2 && c > N / 2, `most reached JS where received: b ${b}, c ${c} of ${N}`)
  assert.ok(inUnits > N / 2, `b read most in the receive units (${inUnits})`)
  // The members have left and their engines are gone: a view JS kept of the
  // receive units still reads (their mapping is held while JS holds it; an
  // unmapped one would crash this process here).
  const kept = units()
  let pages = 0
  for (let i = 0; i < kept.length; i += 4096) pages += kept[i] >= 0 ? 1 : 0
  assert.is(pages, kept.length / 4096, 'every page of the receive units readable after leave()')
})

test('batch – with 5% of datagrams lost and 5% reordered at the receivers, messages by reference and repaired ones mix: all in order and intact', async () => {
  const seed = Number(process.env.SEED ?? Date.now() % 1e9)
  try {
    const { b, c } = await largeDatagrams('batch-at-loss', (i) => (i === 0 ? {} : { inject: { loss: 0.05, reorder: 0.05, seed: seed + i } }))
    assert.ok(b > 0 && c > 0, `some by reference: b ${b}, c ${c}`)
  } catch (e) {
    console.error(`seed ${seed} (SEED=${seed} to run it again)`)
    throw e
  }
})

test.run()
