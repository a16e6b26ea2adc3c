// The Group API in one process: option checking, send checking, views,
// fragmentation, and msg.data outliving the handler.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Group, TroupeError } from '../dist/index.js'
import { until, uniqueGroup } from './helpers/wait.js'
import { throwsWith } from './helpers/assert.js'

test('options – a wrong option name or value is a TypeError/RangeError that names it', async () => {
  const g = uniqueGroup('opts')
  await throwsWith(() => Group.join(g, { windw: 1 }), TypeError, /Unknown option 'windw' of Group\.join\(\) \(did you mean 'window'\?\)/, 'ERR_TROUPE_UNKNOWN_OPTION')
  await throwsWith(() => Group.join(g, { port: 'x' }), TypeError, /option port must be a number, got type string \("x"\)/, 'ERR_INVALID_ARG_TYPE')
  await throwsWith(() => Group.join(g, { port: 70000 }), RangeError, /option port must be between 1 and 65535, got 70000/, 'ERR_OUT_OF_RANGE')
  await throwsWith(() => Group.join(g, { datagramSize: 100 }), RangeError, /option datagramSize/)
  await throwsWith(() => Group.join(g, { address: '10.0.0.1' }), RangeError, /option address must be an IPv4 multicast address/)
  await throwsWith(() => Group.join(g, { interface: 'eth0' }), RangeError, /option interface must be an IPv4 address/)
  await throwsWith(() => Group.join(g, { suspectTimeout: -1 }), RangeError, /option suspectTimeout/)
  await throwsWith(() => Group.join(g, { inject: { los: 0.1 } }), TypeError, /Unknown option 'inject\.los' .*did you mean 'inject\.loss'/, 'ERR_TROUPE_UNKNOWN_OPTION')
  await throwsWith(() => Group.join(g, { inject: { loss: 2 } }), RangeError, /inject\.loss/)
  await throwsWith(() => Group.join(g, { inject: { delay: -1 } }), RangeError, /inject\.delay/)
  await throwsWith(() => Group.join(g, { window: 1000 }), RangeError, /option window/)
  await throwsWith(() => Group.join(g, { partitions: 'split' }), RangeError, /option partitions must be one of 'primary', 'merge', got 'split'/, 'ERR_INVALID_ARG_VALUE')
  await throwsWith(() => Group.join(g, { getState: () => new Uint8Array(0) }), TypeError, /getState and setState go together/)
  await throwsWith(() => Group.join(g, { joinTimeout: 0 }), RangeError, /option joinTimeout/)
  await throwsWith(() => Group.join(g, { busyPoll: -1 }), RangeError, /option busyPoll/)
  await throwsWith(() => Group.join(g, { slowReceiver: 'drop' }), RangeError, /option slowReceiver must be one of 'wait', 'evict'/)
  await throwsWith(() => Group.join(g, { name: 'a#b' }), RangeError, /option name must not contain '#'/, 'ERR_INVALID_ARG_VALUE')
  await throwsWith(() => Group.join(g, { signal: 'stop' }), TypeError, /option signal must be an AbortSignal/, 'ERR_INVALID_ARG_TYPE')
  await throwsWith(() => Group.join(g, 'x'), TypeError, /the options of Group\.join\(\) must be an object, got type string/, 'ERR_INVALID_ARG_TYPE')
  await throwsWith(() => Group.join('', {}), RangeError, /group name/)
  await throwsWith(() => Group.join(42), TypeError, /group name must be a string/)
})

test('inject.delay – every datagram a member receives is held that long first, in order (a path with a round trip)', async () => {
  const name = uniqueGroup('delay')
  const a = await Group.join(name, { name: 'a' })
  const b = await Group.join(name, { name: 'b', inject: { delay: 30 } })
  try {
    await until(() => a.view.members.length === 2 && b.view.members.length === 2, { what: 'both in both views' })
    const got = []
    b.on('message', (m) => {
      if (m.sender === a.me) got.push([new DataView(m.data.buffer, m.data.byteOffset).getUint32(0, true), performance.now() - new DataView(m.data.buffer, m.data.byteOffset).getFloat64(4, true)])
    })
    for (let i = 0; i < 20; i++) {
      const data = new Uint8Array(12)
      new DataView(data.buffer).setUint32(0, i, true)
      new DataView(data.buffer).setFloat64(4, performance.now(), true)
      a.send(data)
      await new Promise((resolve) => setImmediate(resolve))
    }
    await until(() => got.length === 20, { what: 'all 20 at b' })
    assert.equal(got.map((x) => x[0]), Array.from({ length: 20 }, (_, i) => i), 'in order')
    const fastest = Math.min(...got.map((x) => x[1]))
    assert.ok(fastest >= 29, `none sooner than the delay: the fastest took ${fastest.toFixed(1)} ms`)
  } finally {
    await Promise.all([a.leave(), b.leave()])
  }
})

test('group – two members see each other, deliver each other\'s messages in FIFO order, and leave', async () => {
  const name = uniqueGroup('pair')
  const a = await Group.join(name, { name: 'a' })
  const b = await Group.join(name, { name: 'b' })
  try {
    assert.match(a.me, /^a#[0-9a-f]{16}$/)
    await until(() => a.view.members.length === 2 && b.view.members.length === 2, { what: 'both in both views' })
    assert.ok(a.view.members.includes(b.me) && b.view.members.includes(a.me))
    const got = { a: [], b: [] }
    a.on('message', (m) => got.a.push([m.sender, m.data[0], m.order]))
    b.on('message', (m) => got.b.push([m.sender, m.data[0], m.order]))
    for (let i = 0; i < 50; i++) a.send(Uint8Array.of(i))
    b.send(Uint8Array.of(200), { order: 'unordered' })
    // Each member also delivers its own messages (receiveOwn defaults to true).
    await until(() => got.b.length === 51 && got.a.length === 51, { what: 'all deliveries' })
    const fromA = got.b.filter((x) => x[0] === a.me)
    assert.equal(fromA.map((x) => x[1]), Array.from({ length: 50 }, (_, i) => i))
    assert.ok(fromA.every((x) => x[2] === 'fifo'))
    assert.equal(got.a.filter((x) => x[0] === a.me).map((x) => x[1]), Array.from({ length: 50 }, (_, i) => i))
    assert.ok(got.a.some((x) => x[0] === b.me && x[1] === 200 && x[2] === 'unordered'))
    const views = []
    a.on('view', (v) => views.push(v))
    await b.leave()
    await until(() => a.view.members.length === 1, { what: 'a sees b leave' })
    assert.equal(a.view.members, [a.me])
    assert.ok(views.at(-1).id > 1)
  } finally {
    await a.leave()
    await b.leave()
  }
})

test('names – a second member joining with a live member\'s name is refused with ERR_TROUPE_NAME_TAKEN; once the name is free it may be used again', async () => {
  const name = uniqueGroup('names')
  const a = await Group.join(name, { name: 'alice' })
  try {
    await throwsWith(() => Group.join(name, { name: 'alice' }), TroupeError, /the name 'alice' is taken by alice#[0-9a-f]{16}/, 'ERR_TROUPE_NAME_TAKEN')
    assert.equal(a.view.members, [a.me], 'the refused joiner never entered a view')
    await a.leave()
    const again = await Group.join(name, { name: 'alice' })
    assert.match(again.me, /^alice#/)
    await again.leave()
  } finally {
    await a.leave()
  }
})

test('busyPoll – a ping-pong pair with busy polling delivers everything, and timers still run while traffic flows', async () => {
  const name = uniqueGroup('busy')
  const a = await Group.join(name, { name: 'a', busyPoll: 200 })
  const b = await Group.join(name, { name: 'b', busyPoll: 200 })
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  try {
    await until(() => a.view.members.length === 2 && b.view.members.length === 2, { what: 'both in both views' })
    // b answers every message of a's; a sends the next one on each answer.
    const N = 2000
    let answers = 0
    b.on('message', (m) => { if (m.sender === a.me) b.send(m.data) })
    a.on('message', (m) => {
      if (m.sender !== b.me) return
      answers++
      if (answers < N) a.send(Uint8Array.of(answers & 255))
    })
    const ticksBefore = ticks
    a.send(Uint8Array.of(0))
    await until(() => answers === N, { what: `${N} round trips`, timeout: 20000, detail: () => `${answers}` })
    assert.ok(ticks > ticksBefore, 'a 1 ms interval ran during the round trips')
  } finally {
    clearInterval(timer)
    await a.leave()
    await b.leave()
  }
})

test('send – bad data or options are refused with a clear error and a code, and nothing is sent', async () => {
  const g = await Group.join(uniqueGroup('send'), { maxMessageSize: 1000 })
  try {
    await throwsWith(() => g.send(42), TypeError, /data of send\(\) must be a string, an ArrayBuffer or an ArrayBufferView .*got type number \(42\)/, 'ERR_INVALID_ARG_TYPE')
    await throwsWith(() => g.send({ hello: 1 }), TypeError, /got an instance of Object/, 'ERR_INVALID_ARG_TYPE')
    await throwsWith(() => g.send(null), TypeError, /got null/, 'ERR_INVALID_ARG_TYPE')
    await throwsWith(() => g.send(new Uint8Array(1), { order: 'fast' }), RangeError, /option order of send\(\) must be one of 'unordered', 'fifo'/, 'ERR_INVALID_ARG_VALUE')
    for (const internal of ['record', 'constructor', '__proto__', 'toString']) {
      await throwsWith(() => g.send(new Uint8Array(1), { order: internal }), RangeError, /option order of send\(\) must be one of/, 'ERR_INVALID_ARG_VALUE')
    }
    await throwsWith(() => g.send(new Uint8Array(1), { order: 'totl' }), RangeError, /did you mean 'total'/, 'ERR_INVALID_ARG_VALUE')
    await throwsWith(() => g.send(new Uint8Array(1), { ordr: 'total' }), TypeError, /Unknown option 'ordr' of send\(\) \(did you mean 'order'\?\)/, 'ERR_TROUPE_UNKNOWN_OPTION')
    await throwsWith(() => g.send(new Uint8Array(1), 'total'), TypeError, /the options of send\(\) must be an object/, 'ERR_INVALID_ARG_TYPE')
    await throwsWith(() => g.send(new Uint8Array(1001)), RangeError, /1001 bytes is larger than maxMessageSize \(1000\)/, 'ERR_TROUPE_MESSAGE_TOO_LARGE')
    await throwsWith(() => g.send('x'.repeat(1001)), RangeError, /maxMessageSize/, 'ERR_TROUPE_MESSAGE_TOO_LARGE')
    assert.is(g.stats().counters.messagesSent, 0)
  } finally {
    await g.leave()
  }
  await throwsWith(() => g.send(new Uint8Array(1)), TroupeError, /was left/, 'ERR_TROUPE_CLOSED')
})

test('send – strings, ArrayBuffers and every ArrayBufferView arrive as the same bytes; text() and json() read them', async () => {
  const g = await Group.join(uniqueGroup('data'))
  try {
    const got = []
    g.on('message', (m) => got.push(m))
    const floats = Float64Array.of(1.5, -2, Math.PI)
    const inner = new Uint8Array([9, 8, 7, 6, 5]).subarray(1, 4) // a view at an offset
    const sent = [
      'héllo, wörld ✓',
      JSON.stringify({ price: 101.25, side: 'buy' }),
      floats,
      floats.buffer,
      new DataView(inner.buffer, inner.byteOffset, inner.byteLength),
      Buffer.from('buffer'),
      new Uint16Array([1, 65535]),
    ]
    for (const data of sent) g.send(data)
    await until(() => got.length === sent.length, { what: 'every message' })
    assert.is(got[0].text(), 'héllo, wörld ✓')
    assert.equal(got[1].json(), { price: 101.25, side: 'buy' })
    assert.equal([...new Float64Array(got[2].data.slice().buffer)], [1.5, -2, Math.PI])
    assert.equal([...got[3].data], [...new Uint8Array(floats.buffer)])
    assert.equal([...got[4].data], [8, 7, 6])
    assert.is(got[5].text(), 'buffer')
    assert.equal([...got[6].data], [1, 0, 255, 255])
    assert.throws(() => got[2].json(), SyntaxError)
  } finally {
    await g.leave()
  }
})

test('orders – causal, total, safe and sync in one group: one total order, the same cut before a sync, sync() resolves', async () => {
  const name = uniqueGroup('orders')
  const a = await Group.join(name, { name: 'a' })
  const b = await Group.join(name, { name: 'b' })
  try {
    await until(() => a.view.members.length === 2 && b.view.members.length === 2, { what: 'a view of 2' })
    const got = { a: [], b: [] }
    const record = (list) => (m) => list.push({ who: m.sender === a.me ? 'a' : 'b', order: m.order, n: m.data[0] })
    a.on('message', record(got.a))
    b.on('message', record(got.b))
    const orders = ['fifo', 'causal', 'total', 'safe', 'unordered']
    for (let i = 0; i < 50; i++) {
      a.send(Uint8Array.of(i), { order: orders[i % 5] })
      b.send(Uint8Array.of(100 + i), { order: orders[(i + 2) % 5] })
    }
    a.send(Uint8Array.of(255), { order: 'sync' }) // a sync message of the application's: delivered, with its data
    await a.sync() // a barrier behind it: resolves once it took its place here, and is delivered to no one
    for (let i = 0; i < 10; i++) b.send(Uint8Array.of(200 + i), { order: 'total' })
    await until(() => got.a.length === 111 && got.b.length === 111, { timeout: 10000, what: 'every message and the sync at both' })
    const key = (x) => `${x.who}${x.n}`
    const syncAt = (list) => list.findIndex((x) => x.order === 'sync')
    assert.ok(syncAt(got.a) >= 0 && syncAt(got.a) === got.a.findLastIndex((x) => x.order === 'sync'), 'one sync message (the barrier is not delivered)')
    assert.is(got.a[syncAt(got.a)].n, 255, "the application's sync message comes with its own data")
    assert.equal(new Set(got.a.slice(0, syncAt(got.a)).map(key)), new Set(got.b.slice(0, syncAt(got.b)).map(key)), 'the same messages before the sync')
    assert.ok(got.a.slice(0, syncAt(got.a)).filter((x) => x.who === 'a').length === 50, "all of a's messages sent before the sync come before it")
    const ordered = (list) => list.filter((x) => x.order === 'total' || x.order === 'safe').map(key)
    assert.equal(ordered(got.a), ordered(got.b), 'one total order (total and safe)')
    for (const who of ['a', 'b']) {
      const fifo = got.b.filter((x) => x.who === who && x.order !== 'unordered' && x.order !== 'sync').map((x) => x.n)
      assert.equal(fifo, [...fifo].sort((p, q) => p - q), `FIFO across the ordered kinds for ${who}`)
    }
  } finally {
    await a.leave()
    await b.leave()
  }
})

test('receiveOwn false – such a member (here the sequencer) sends total, safe and sync messages: they take their place in the one order, and it delivers none of its own', async () => {
  const name = uniqueGroup('noown')
  const a = await Group.join(name, { name: 'a', receiveOwn: false }) // the first: the coordinator, so the sequencer
  const b = await Group.join(name, { name: 'b' })
  const c = await Group.join(name, { name: 'c', receiveOwn: false })
  try {
    await until(() => [a, b, c].every((g) => g.view.members.length === 3), { what: 'a view of 3' })
    assert.is(a.view.coordinator, a.me)
    const got = { a: [], b: [], c: [] }
    const who = (m) => (m.sender === a.me ? 'a' : m.sender === b.me ? 'b' : 'c')
    const letter = { total: 't', safe: 's', fifo: 'f', causal: 'c', sync: 'y' }
    for (const [k, g] of Object.entries({ a, b, c })) g.on('message', (m) => got[k].push(`${who(m)}${letter[m.order]}${m.data[0]}`))
    const orders = ['total', 'safe', 'total', 'fifo', 'causal']
    for (let i = 0; i < 30; i++) {
      for (const g of [a, b, c]) g.send(Uint8Array.of(i), { order: orders[i % orders.length] })
    }
    a.send(Uint8Array.of(99), { order: 'sync' })
    c.send(Uint8Array.of(98), { order: 'sync' })
    await a.sync() // resolves once a's own barrier took its place here (barriers are delivered to no one)
    await c.sync()
    await until(() => got.a.length === 60 + 1 && got.b.length === 90 + 2 && got.c.length === 60 + 1, {
      what: 'every delivery', detail: () => [got.a.length, got.b.length, got.c.length].join(' '),
    })
    assert.ok(!got.a.some((x) => x[0] === 'a') && !got.c.some((x) => x[0] === 'c'), 'none of its own')
    const ordered = (list) => list.filter((x) => x[1] === 't' || x[1] === 's')
    const without = (list, self) => list.filter((x) => x[0] !== self)
    assert.equal(without(ordered(got.b), 'a'), ordered(got.a), "a's one order is b's, without a's own")
    assert.equal(without(ordered(got.b), 'c'), ordered(got.c), "c's one order is b's, without c's own")
    // The sync cut: each sync message comes after the same messages at every
    // member that delivers it (less the member's own, which it does not deliver).
    for (const [key, other] of [['ay99', 'c'], ['cy98', 'a']]) {
      const atB = got.b.indexOf(key), atOther = got[other].indexOf(key)
      assert.ok(atB >= 0 && atOther >= 0, `${key} delivered at b and ${other}`)
      const seen = (list, at) => new Set(list.slice(0, at).filter((x) => x[0] !== other))
      assert.equal(seen(got[other], atOther), seen(got.b, atB), `the same messages before ${key} at b and ${other}`)
    }
  } finally {
    await Promise.all([a.leave(), b.leave(), c.leave()])
  }
})

test('receiveOwn false – the group socket drops our own data in the kernel: a lone sender reads none of what it multicasts', async () => {
  const name = uniqueGroup('noownread')
  const a = await Group.join(name, { name: 'a', receiveOwn: false })
  const b = await Group.join(name, { name: 'b' })
  try {
    await until(() => a.view.members.length === 2 && b.view.members.length === 2, { what: 'a view of 2' })
    let got = 0
    b.on('message', () => got++)
    const before = a.stats().counters
    const payload = new Uint8Array(60_000)
    for (let i = 0; i < 200; i++) a.send(payload) // ~12 MB
    await until(() => got === 200, { what: 'every message at b', detail: () => `${got}` })
    const after = a.stats().counters
    const sent = after.datagramsSent - before.datagramsSent
    const read = after.datagramsReceived - before.datagramsReceived
    const bytes = after.bytesReceived - before.bytesReceived
    assert.ok(sent >= 180, `a sent its data (~12 MB in datagrams of at most 64 KiB): ${sent} datagrams`)
    assert.ok(bytes < 12e6 / 10, `a read ${read} datagrams, ${bytes} B: b's STATUS, not its own ~12 MB`)
  } finally {
    await Promise.all([a.leave(), b.leave()])
  }
})

test('state transfer – a joiner whose givers stop answering turns to the next, then starts over as a new incarnation, and then gets the state', async () => {
  const name = uniqueGroup('stall')
  const state = new Uint8Array(1 << 20).map((_, i) => i * 7)
  const givings = { a: 0, c: 0 }
  const groups = {}
  let armed = false
  // Once armed, the first time each giver forgets the state at once (as if
  // it had kept it past its time): the joiner hears it but gets no chunk.
  const giver = (who) => ({
    name: who, suspectTimeout: 300,
    getState: () => {
      if (armed && givings[who]++ === 0) setImmediate(() => groups[who].live.member.stateOut.clear())
      return state
    },
    setState: () => {},
  })
  groups.a = await Group.join(name, giver('a'))
  groups.c = await Group.join(name, giver('c'))
  const { a, c } = groups
  let b = null
  try {
    await until(() => a.view.members.length === 2 && c.view.members.length === 2, { what: 'a view of a and c' })
    armed = true
    let got = null
    b = await Group.join(name, { name: 'b', suspectTimeout: 300, getState: () => new Uint8Array(0), setState: (s) => (got = s) })
    assert.equal(givings, { a: 2, c: 2 }, 'both old members gave the state, twice')
    assert.is(b.stats().rejoins, 1, 'the joiner started over once, after both givers failed it')
    assert.ok(got && got.length === state.length && got.every((x, i) => x === state[i]), 'and has the whole state')
    await until(() => a.view.members.length === 3 && a.view.members.includes(b.me), { what: 'one view of a, c and the new b' })
  } finally {
    await Promise.all([a.leave(), c.leave(), b?.leave()])
  }
})

test('fragmentation – messages larger than a datagram arrive whole, and msg.data stays valid after the handler', async () => {
  const name = uniqueGroup('frag')
  const a = await Group.join(name, { name: 'a', datagramSize: 1472 })
  const b = await Group.join(name, { name: 'b', datagramSize: 1472 })
  try {
    await until(() => a.view.members.length === 2 && b.view.members.length === 2, { what: 'view of 2' })
    const sizes = [0, 1, 1427, 1428, 1429, 5000, 1 << 20, 3 * (1 << 20) + 17]
    const kept = []
    b.on('message', (m) => { if (m.sender === a.me) kept.push(m) })
    for (const [i, n] of sizes.entries()) {
      const d = new Uint8Array(n)
      for (let j = 0; j < n; j++) d[j] = (j * 7 + i) & 255
      a.send(d)
      d.fill(0) // send() copied: reusing the buffer must not change what is sent
    }
    await until(() => kept.length === sizes.length, { timeout: 15000, what: 'all fragmented messages' })
    // Push more traffic through the rings so that any reuse of memory would show.
    for (let i = 0; i < 5000; i++) a.send(new Uint8Array(100).fill(0xee))
    await until(() => kept.length === sizes.length + 5000, { timeout: 15000, what: 'filler' })
    for (const [i, n] of sizes.entries()) {
      const m = kept[i]
      assert.is(m.data.length, n)
      let bad = 0
      for (let j = 0; j < n; j++) if (m.data[j] !== ((j * 7 + i) & 255)) bad++
      assert.is(bad, 0, `message ${i} (${n} bytes) intact`)
    }
    assert.is(b.stats().reassemblyDropped, 0)
    // One JS wake-up per batch of received messages, never one per message.
    const c = b.stats().counters
    assert.ok(c.wakeups * 10 < c.messagesDelivered, `${c.wakeups} wake-ups for ${c.messagesDelivered} deliveries`)
  } finally {
    await a.leave()
    await b.leave()
  }
})

test.run()
