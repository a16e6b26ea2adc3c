// Open groups (Group.connect) in one process: a client's total messages take
// their place in the members' one total order; its fifo messages keep its
// order; it asks the group (view-aware) and sends with subjects; it works
// over udp-unicast, with a group key and through loss; a joiner receives the
// ledger; the checks of connect()'s options and send()'s size; what does not
// parse is dropped and counted, never delivered.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash, randomBytes } from 'node:crypto'
import { Group, Client } from '../dist/index.js'
import { Clients, Ledger, wrapState } from '../dist/clients/room.js'
import { decodeClientControl, decodeSession, encodeClientControl, encodeSession, frameHeader, parseFrame, RoomKind } from '../dist/clients/wire.js'
import { until, uniqueGroup } from './helpers/wait.js'
import { throwsWith } from './helpers/assert.js'
import { defaultEndpoint } from '../dist/options.js'

/** n members of a fresh group (and what each delivers, as `sender-name:text`), left at the end. */
async function withMembers(n, body, options = {}) {
  const name = uniqueGroup('clients')
  const groups = []
  const clients = []
  try {
    const optionsOf = (i) => (typeof options === 'function' ? options(i, name) : options)
    for (let i = 0; i < n; i++) groups.push(await Group.join(name, { name: `m${i}`, ...optionsOf(i) }))
    await until(() => groups.every((g) => g.view.members.length === n), { timeout: 10000, what: `a view of ${n}` })
    const connect = async (cname, extra = {}) => {
      const c = await Group.connect(name, { name: cname, ...optionsOf(-1), ...extra })
      clients.push(c)
      return c
    }
    await body(groups, connect, name)
  } finally {
    await Promise.all(clients.map((c) => c.close({ timeoutMs: 2000 }).catch(() => {})))
    await Promise.all(groups.map((g) => g.leave().catch(() => {})))
  }
}

const short = (id) => id.split('#')[0]

test("clients – a client's total messages interleave in one order with the members'; msg.sender is the client", async () => {
  await withMembers(3, async (gs, connect) => {
    const logs = gs.map(() => [])
    gs.forEach((g, i) => g.on('message', (m) => logs[i].push(`${short(m.sender)}:${m.text()}`)))
    const [c1, c2] = [await connect('c1'), await connect('c2')]
    assert.ok(c1.me.startsWith('c1#') && c2.me.startsWith('c2#'))
    assert.equal(c1.view.members, gs[0].view.members, "the client sees the group's view")
    const senders = new Set()
    gs[0].on('message', (m) => senders.add(m.sender))
    const N = 200
    for (let i = 0; i < N; i++) {
      c1.send(`a${i}`, { order: 'total' })
      c2.send(`b${i}`, { order: 'total' })
      gs[i % 3].send(`g${i}`, { order: 'total' })
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 1))
    }
    await Promise.all([c1.close(), c2.close()])
    await until(() => logs.every((l) => l.length === 3 * N), { timeout: 15000, what: 'every member to deliver every message', detail: () => logs.map((l) => l.length).join(' ') })
    assert.equal(logs[1], logs[0], 'member 1 delivered in the same order as member 0')
    assert.equal(logs[2], logs[0], 'member 2 delivered in the same order as member 0')
    assert.is(new Set(logs[0]).size, 3 * N, 'each message once')
    // Each client's messages in the order it sent them, among the members'.
    const c1Order = logs[0].filter((x) => x.startsWith('c1:'))
    assert.equal(c1Order, Array.from({ length: N }, (_, i) => `c1:a${i}`))
    assert.ok(senders.has(c1.me) && senders.has(c2.me), 'msg.sender is the client id')
    // The clients interleave with the members (not all at one end).
    const firstClient = logs[0].findIndex((x) => x.startsWith('c'))
    const lastMember = logs[0].findLastIndex((x) => x.startsWith('m'))
    assert.ok(firstClient < lastMember, 'client and member messages interleave')
    for (const g of gs) assert.is(g.stats().clients.duplicates, 0)
  })
})

test('clients – fifo keeps the client order at every member; requests resolve view-aware; subjects reach subscriptions', async () => {
  await withMembers(3, async (gs, connect) => {
    const logs = gs.map(() => [])
    gs.forEach((g, i) => g.on('message', (m) => m.sender.startsWith('c#') && logs[i].push(m.text())))
    gs.forEach((g, i) => g.on('request', (req) => `${i}:${req.text()}:${short(req.sender)}`))
    const ticks = []
    gs[2].subscribe('md.EUR.*', (m) => ticks.push(`${short(m.sender)} ${m.subject} ${m.text()}`))
    const c = await connect('c')
    for (let i = 0; i < 500; i++) c.send(String(i))
    c.send('1.10', { subject: 'md.EUR.USD' })
    c.send('150', { subject: 'md.USD.JPY' })
    const all = await c.request('px', { responses: 'all' })
    assert.equal(all.map((r) => r.text()).sort(), ['0:px:c', '1:px:c', '2:px:c'])
    assert.equal(all.left, [])
    const first = await c.request('q', { responses: 'first', order: 'total' })
    assert.is(first.length, 1)
    // The member the client talks through holds a request, then leaves: it is
    // named in left at the view without it; the others' replies, on their way
    // through it, still reach the client, which moves to another member at once.
    await until(() => ticks.length === 1, { what: 'the subject message' })
    assert.equal(ticks, ['c md.EUR.USD 1.10'])
    const k = gs.findIndex((g) => g.me === c.stats().member)
    const leaver = gs[k]
    leaver.removeAllListeners('request')
    leaver.on('request', () => new Promise(() => {}))
    const asked = c.request('slow', { responses: 'all', timeout: 30000 })
    await until(() => c.stats().requests.waiting === 1, { what: 'the request to be under way' })
    const t0 = Date.now()
    const moved = new Promise((resolve) => c.once('member', resolve))
    await leaver.leave()
    const slow = await asked
    assert.equal(slow.left, [leaver.me])
    assert.equal(slow.map((r) => r.text()).sort(), gs.filter((g) => g !== leaver).map((g) => `${gs.indexOf(g)}:slow:c`).sort())
    assert.ok(Date.now() - t0 < 10000, 'resolved at the view, not at the timeout')
    const { previous } = await moved
    assert.is(previous, leaver.me)
    for (let i = 500; i < 600; i++) c.send(String(i))
    await c.close()
    assert.is(c.stats().pendingMessages, 0)
    const expected = Array.from({ length: 600 }, (_, i) => String(i))
    const stay = [0, 1, 2].filter((i) => i !== k)
    await until(() => stay.every((i) => logs[i].length === 600), { what: "the client's fifo messages", detail: () => stay.map((i) => logs[i].length).join(' ') })
    for (const i of stay) assert.equal(logs[i], expected, 'in the order sent, each once, across the move')
  })
})

test('clients – over udp-unicast with a group key, and through 20% loss at every member and the client', async () => {
  const key = randomBytes(32)
  const seed = Number(process.env.SEED ?? (Date.now() % 100000))
  try {
    await withMembers(3, async (gs, connect) => {
      const logs = gs.map(() => [])
      gs.forEach((g, i) => g.on('message', (m) => logs[i].push(`${short(m.sender)}:${m.text()}`)))
      gs.forEach((g) => g.on('request', (req) => req.text().toUpperCase()))
      const c = await connect('c', { inject: { loss: 0.2, seed: seed + 7 } })
      for (let i = 0; i < 300; i++) {
        c.send(`c${i}`, { order: i % 2 ? 'total' : 'fifo' })
        if (i % 3 === 0) gs[i % 3].send(`g${i}`, { order: 'total' })
      }
      const r = await c.request('ok', { responses: 'all' })
      assert.equal(r.map((x) => x.text()), ['OK', 'OK', 'OK'])
      await c.close({ timeoutMs: 20000 })
      assert.is(c.stats().pendingMessages, 0, 'every message held by the group')
      await until(() => logs.every((l) => l.filter((x) => x.startsWith('c:')).length === 300), { timeout: 20000, what: "the client's messages at every member" })
      const fromClient = (l) => l.filter((x) => x.startsWith('c:'))
      assert.equal(fromClient(logs[1]), fromClient(logs[0]))
      assert.equal(fromClient(logs[2]), fromClient(logs[0]))
      assert.is(new Set(fromClient(logs[0])).size, 300, 'each once')
      const total = (l) => l.filter((x) => /^c:c\d*[13579]$|^m\d:/.test(x))
      assert.equal(total(logs[1]), total(logs[0]), 'total messages in one order')
    }, (i, name) => {
      const base = defaultEndpoint(name).port
      const peers = [0, 1, 2].map((k) => `127.0.0.1:${base + k}`)
      return { transport: 'udp-unicast', ...(i >= 0 ? { port: base + i } : {}), peers, key, inject: { loss: 0.2, seed: seed + i } }
    })
  } catch (err) {
    console.error(`SEED=${seed}`)
    throw err
  }
})

test('clients – a joiner receives the ledger with the state; a client that sent before it is not delivered twice to it', async () => {
  await withMembers(2, async (gs, connect, name) => {
    const c = await connect('c')
    for (let i = 0; i < 20; i++) c.send(`x${i}`, { order: 'total' })
    await until(() => c.stats().pendingMessages === 0, { what: 'the messages to be held' })
    await until(() => gs.every((g) => g.stats().clients.ledger === 1), { what: 'the ledger at the members' })
    let state = null
    const j = await Group.join(name, { name: 'joiner', getState: () => Uint8Array.of(0), setState: (s) => (state = s) })
    try {
      assert.is(j.stats().clients.ledger, 1, 'the joiner has the ledger')
      assert.equal([...state], [7, 7], "the application's own state arrives as it was given")
    } finally {
      await j.leave()
    }
  }, (i) => (i >= 0 ? { getState: () => Uint8Array.of(7, 7), setState: () => {} } : {}))
})

test('clients – Ledger: each (client, seq) once, in any order; bounded; wrapState carries it and the app state', () => {
  const l = new Ledger()
  assert.ok(l.fresh('c#0000000000000001', 2))
  assert.ok(l.fresh('c#0000000000000001', 1))
  assert.not.ok(l.fresh('c#0000000000000001', 2))
  assert.not.ok(l.fresh('c#0000000000000001', 1))
  assert.ok(l.fresh('c#0000000000000001', 5))
  const copy = new Ledger()
  let app = null
  const a = wrapState(l, { getState: () => Uint8Array.of(9, 8) })
  const b = wrapState(copy, { setState: (s) => (app = [...s]) })
  b.setState(a.getState())
  assert.equal(app, [9, 8])
  assert.not.ok(copy.fresh('c#0000000000000001', 5))
  assert.ok(copy.fresh('c#0000000000000001', 3))
  for (let i = 0; i < 10_050; i++) copy.fresh(`c${i}#0000000000000002`, 1)
  assert.ok(copy.size <= 10_000, 'at most MAX_CLIENTS')
  assert.not.ok(new Ledger().load(Uint8Array.of(1, 2, 3)), 'garbage does not load')
})

test("clients – messages larger than a datagram go in pieces: every member delivers each whole, once, in the client's order (fifo) and in the one order (total), at 1,472-byte datagrams", async () => {
  await withMembers(3, async (gs, connect) => {
    const got = gs.map(() => [])
    gs.forEach((g, i) => g.on('message', (m) => got[i].push({ sender: short(m.sender), order: m.order, hash: createHash('sha256').update(m.data).digest('hex'), length: m.data.length })))
    const c = await connect('big')
    const sizes = [10, 1_400, 1_500, 5_000, 64 * 1024, 300_000, 20, 1_000_000 - 200]
    const sent = []
    for (let round = 0; round < 3; round++) {
      for (const [i, size] of sizes.entries()) {
        const bytes = randomBytes(size)
        const order = i % 2 ? 'total' : 'fifo'
        sent.push({ sender: 'big', order, hash: createHash('sha256').update(bytes).digest('hex'), length: size })
        c.send(bytes, { order })
        if (order === 'total') gs[round % 3].send(`m${round}.${i}`, { order: 'total' }) // (the members' own, between)
      }
    }
    await c.close()
    const fromClient = (list) => list.filter((x) => x.sender === 'big')
    await until(() => got.every((l) => fromClient(l).length === sent.length), { timeout: 20000, what: 'every member to deliver all of the client\'s messages', detail: () => got.map((l) => fromClient(l).length).join(' ') })
    for (const [i, l] of got.entries()) {
      // fifo and total each keep the client's order; compare each order's sequence.
      for (const order of ['fifo', 'total']) {
        assert.equal(fromClient(l).filter((x) => x.order === order), sent.filter((x) => x.order === order), `member ${i}: the client's ${order} messages whole, once, in its order`)
      }
    }
    const totals = got.map((l) => l.filter((x) => x.order === 'total').map((x) => `${x.sender}:${x.hash}`).join())
    assert.is(totals[1], totals[0], 'one total order at members 0 and 1')
    assert.is(totals[2], totals[0], 'one total order at members 0 and 2')
  }, { datagramSize: 1472 })
})

test('clients – connect() checks its options; no group: ERR_TROUPE_CONNECT_TIMEOUT; a message larger than a client may send (1 MiB) is a RangeError', async () => {
  const name = uniqueGroup('clients-none')
  await throwsWith(() => Group.connect(name, { window: 1 << 20 }), TypeError, /'window' of Group.connect\(\)/, 'ERR_TROUPE_UNKNOWN_OPTION')
  await throwsWith(() => Group.connect(name, { connectTimeout: 0 }), RangeError, /connectTimeout/, 'ERR_OUT_OF_RANGE')
  await throwsWith(() => Group.connect(name, { connectTimeout: 'soon' }), TypeError, /connectTimeout/, 'ERR_INVALID_ARG_TYPE')
  await throwsWith(() => Group.connect(name, { port: 0 }), RangeError, /option port/)
  const t0 = Date.now()
  await throwsWith(() => Group.connect(name, { connectTimeout: 300 }), Error, /no member welcomed/, 'ERR_TROUPE_CONNECT_TIMEOUT')
  assert.ok(Date.now() - t0 < 5000)
  await withMembers(1, async (gs, connect) => {
    const c = await connect('c')
    assert.ok(c instanceof Client)
    assert.throws(() => c.send(new Uint8Array(1 << 20)), (e) => e instanceof RangeError && e.code === 'ERR_TROUPE_MESSAGE_TOO_LARGE')
    assert.throws(() => c.send('x', { order: 'sideways' }), (e) => e instanceof RangeError && /order/.test(e.message))
    assert.ok(c.send('fits'))
    await c.close()
    assert.throws(() => c.send('late'), (e) => e.code === 'ERR_TROUPE_CLOSED')
    await throwsWith(() => c.request('late'), Error, /closed/, 'ERR_TROUPE_CLOSED')
  })
})

test("clients – a member takes a client's message past one datagram in pieces over the session, whole; pieces past the largest drop that message, and the next goes whole", async () => {
  const forwarded = []
  const port = {
    me: () => 'm#0000000000000001', view: () => ({ id: 1, members: ['m#0000000000000001'], coordinator: 'm#0000000000000001' }), accepting: () => true,
    send: (header, bytes) => forwarded.push(parseFrame(Uint8Array.from([...header, ...bytes]))), control: () => {}, direct: () => true, hand: () => {},
    now: () => 0, retry: 20, maxControl: 1400, maxMessageSize: 8 << 20, sessionTimeout: 3000,
  }
  const clients = new Clients(port)
  const hex = '00000000000000aa'
  let dseq = 0
  // Session messages in pieces of at most 1,000 bytes (the last of each not marked `more`).
  const say = (...messages) => {
    const parts = []
    for (const m of messages) {
      const b = encodeSession(m)
      for (let at = 0; at === 0 || at < b.length; at += 1000) parts.push({ seq: ++dseq, bytes: b.subarray(at, at + 1000), ...(at + 1000 < b.length ? { more: true } : {}) })
    }
    clients.onControl(hex, encodeClientControl({ kind: 'data', session: 1, parts }))
  }
  say({ type: 'open', name: 'c', previous: null })
  const bytes = (n, v) => new Uint8Array(n).fill(v)
  const big = bytes(2500, 1)
  big[1000] = 2
  big[2400] = 3
  say({ type: 'send', code: 0, seq: 1, bytes: big })
  const messages = () => forwarded.filter((f) => f.kind === RoomKind.message)
  assert.equal(messages().map((m) => [m.seq, m.bytes.length, m.bytes[0], m.bytes[1000], m.bytes[2400]]), [[1, 2500, 1, 2, 3]])
  say({ type: 'send', code: 0, seq: 2, bytes: bytes((1 << 20) + 10, 4) }) // past the largest direct message
  say({ type: 'send', code: 0, seq: 3, bytes: bytes(10, 6) })
  assert.equal(messages().map((m) => [m.seq, m.bytes.length]), [[1, 2500], [3, 10]], 'seq 2 dropped, seq 3 whole')
})

test('clients – the wire: what does not parse is null; a forged frame or session message is dropped and counted, never delivered', async () => {
  // Round trips.
  const hello = decodeClientControl(encodeClientControl({ kind: 'hello', name: 'c' }))
  assert.equal(hello, { kind: 'hello', name: 'c' })
  const w = { kind: 'welcome', view: 7, maxMessage: 1000, members: ['a#0000000000000001', 'b#0000000000000002'] }
  assert.equal(decodeClientControl(encodeClientControl(w)), w)
  assert.equal(decodeSession(encodeSession({ type: 'held', seq: 9 })), { type: 'held', seq: 9 })
  const parts = [{ seq: 5, bytes: Uint8Array.of(1, 2), more: true }, { seq: 6, bytes: Uint8Array.of(3) }]
  assert.equal(decodeClientControl(encodeClientControl({ kind: 'data', session: 9, parts })), { kind: 'data', session: 9, parts }, 'a piece marked `more` on the wire')
  const f = parseFrame(Uint8Array.from([...frameHeader(RoomKind.message, 3, 'c#0000000000000001', 5), 1, 2]))
  assert.equal([f.kind, f.code, f.client, f.seq, [...f.bytes]], [RoomKind.message, 3, 'c#0000000000000001', 5, [1, 2]])
  // Malformed: too short, bad ids, a name with '#', garbage.
  const rng = randomBytes(4000)
  for (let i = 0; i < 1000; i++) {
    const p = rng.subarray(i, i + (i % 40))
    decodeClientControl(Uint8Array.from([32 + (i % 6), ...p]))
    decodeSession(p)
    parseFrame(p)
  }
  assert.is(decodeClientControl(encodeClientControl({ kind: 'hello', name: 'a#b' })), null)
  assert.is(decodeClientControl(Uint8Array.of(33, 0, 0)), null)
  assert.is(decodeClientControl(Uint8Array.of(35, 1, 0, 0, 0, 0, 0, 0, 0)), null, 'an ack of seq 0')
  assert.is(parseFrame(Uint8Array.of(4, 1, 1, 3, 65, 66, 67, 0, 0, 0, 0)), null, 'a client id that is not name#hex')
  // A member drops a forged frame on its stream (a room message that looks like a client's but does not parse;
  // sent through the member's internal outbox: no public call sends one).
  await withMembers(2, async ([a, b]) => {
    let delivered = 0
    b.on('message', () => delivered++)
    a.outbox.send(Uint8Array.of(1, 2, 3), 1 | 8, Uint8Array.of(4, 1, 1, 200)) // a frame whose id length runs past its end
    await until(() => b.stats().clients.dropped === 1, { what: 'the forged frame to be dropped' })
    assert.is(delivered, 0)
  })
})

test.run()
