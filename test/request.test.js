// Requests and replies (group.request, the 'request' event) in one process:
// how many answers each `responses` waits for, the three ways to answer,
// handlers that fail or are missing, a member that leaves without answering
// (view-aware: resolved at the view, not at the timeout), the timeout and the
// signal, total-order requests in one order everywhere, the argument checks,
// and the room dropping what does not parse.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { Group, Response } from '../dist/index.js'
import { defaultEndpoint } from '../dist/options.js'
import { Direct } from '../dist/node/direct.js'
import { Requests } from '../dist/rpc/room.js'
import { encodeReply, encodeRequest, Kind, ROOM_REQUESTS } from '../dist/rpc/wire.js'
import { until, uniqueGroup } from './helpers/wait.js'
import { throwsWith } from './helpers/assert.js'
import { withGroup as withGroupOf } from './helpers/groups.js'

const withGroup = (n, body, options) => withGroupOf('request', n, body, options)

const byMember = (responses) => Object.fromEntries(responses.map((r) => [r.member, r.text()]))

test("request – 'all' gets every other member's answer: a returned value, an async handler's, and reply() called later", async () => {
  await withGroup(4, async ([a, b, c, d]) => {
    b.on('request', (req) => `b:${req.text()}`)
    c.on('request', async (req) => {
      await new Promise((r) => setImmediate(r))
      return Buffer.from(`c:${req.text()}`)
    })
    d.on('request', (req) => {
      setTimeout(() => req.reply(`d:${req.text()}`), 5)
    })
    let messages = 0
    for (const g of [b, c, d]) g.on('message', () => messages++)
    const responses = await a.request('ping')
    assert.ok(responses.every((r) => r instanceof Response))
    assert.equal(byMember(responses), { [b.me]: 'b:ping', [c.me]: 'c:ping', [d.me]: 'd:ping' })
    assert.equal(responses.left, [])
    assert.equal(responses.failed, [])
    assert.is(messages, 0, "a request never reaches 'message'")
    assert.is(a.stats().requests.waiting, 0)
    for (const g of [b, c, d]) assert.is(g.stats().requests.overheard, 0, 'each reply went to the asker alone')
    // replies: 'multicast': on each responder's stream, which every member receives.
    const viaAll = await a.request('ping', { replies: 'multicast' })
    assert.equal(byMember(viaAll), { [b.me]: 'b:ping', [c.me]: 'c:ping', [d.me]: 'd:ping' })
    await until(() => [b, c, d].every((g) => g.stats().requests.overheard === 2), { what: 'each member to receive the two other replies' })
    // A reply past one datagram goes to the asker alone in pieces; past 1 MiB (the largest direct
    // message), on the system channel: the others receive it too.
    b.removeAllListeners('request')
    b.on('request', (req) => new Uint8Array(Number(req.text())).fill(7))
    const big = await a.request('100000', { to: [b.me] })
    assert.is(big[0].data.length, 100_000)
    assert.ok(big[0].data.every((x) => x === 7))
    const huge = await a.request('1500000', { to: [b.me] })
    assert.is(huge[0].data.length, 1_500_000)
    assert.ok(huge[0].data.every((x) => x === 7))
    await until(() => c.stats().requests.overheard === 3 && d.stats().requests.overheard === 3, { what: 'the others to receive the reply past 1 MiB (and not the one of 100 kB)' })
  })
})

test("request – 'first', 'majority' and a number resolve once that many answered", async () => {
  await withGroup(4, async ([a, b, c, d]) => {
    const release = new Map() // request text → the slow members' reply functions
    b.on('request', () => 'fast')
    for (const g of [c, d]) {
      g.on('request', (req) => {
        if (!release.has(req.text())) release.set(req.text(), [])
        release.get(req.text()).push(() => req.reply('slow'))
      })
    }
    const held = (text) => release.get(text)?.length === 2
    const first = await a.request('x', { responses: 'first' })
    assert.equal(first.map((r) => r.text()), ['fast'])
    // Majority of the 3 asked is 2: b at once, then one of the slow ones.
    const majority = a.request('y', { responses: 'majority' })
    await until(() => held('y'), { what: 'the slow members to hold y' })
    release.get('y')[0]()
    const got = await majority
    assert.equal(got.map((r) => r.text()).sort(), ['fast', 'slow'])
    const two = a.request('z', { responses: 2 })
    await until(() => held('z'), { what: 'the slow members to hold z' })
    release.get('z')[1]()
    assert.is((await two).length, 2)
  })
})

test('request – a handler that throws and a member without a listener are in `failed`, not waited for', async () => {
  await withGroup(3, async ([a, b, c]) => {
    b.on('request', () => {
      throw new Error('no such key')
    })
    const responses = await a.request('q')
    assert.is(responses.length, 0)
    const failed = Object.fromEntries(responses.failed.map((f) => [f.member, f.error]))
    assert.equal(Object.keys(failed).sort(), [b.me, c.me].sort())
    for (const e of Object.values(failed)) assert.is(e.code, 'ERR_TROUPE_REQUEST_FAILED')
    assert.match(failed[b.me].message, /no such key/)
    assert.match(failed[c.me].message, /no 'request' listener/)
  })
})

test('request – a member that leaves without answering is named in `left` at the view change (long before the timeout)', async () => {
  await withGroup(3, async ([a, b, c]) => {
    b.on('request', () => 'here')
    let held = false
    c.on('request', () => void (held = true)) // never answers
    const asked = a.request('who', { timeout: 60_000 })
    await until(() => held, { what: 'c to hold the request' })
    const t0 = Date.now()
    await c.leave()
    const responses = await asked
    assert.equal(byMember(responses), { [b.me]: 'here' })
    assert.equal(responses.left, [c.me])
    assert.ok(Date.now() - t0 < 30_000, 'resolved at the view change, not at the timeout')
  })
})

test('request – a reply sent just before leaving still arrives (it is in the stream before the view without its sender)', async () => {
  await withGroup(3, async ([a, b, c]) => {
    b.on('request', () => 'b')
    c.on('request', (req) => {
      req.reply('c, leaving')
      void c.leave()
    })
    const responses = await a.request('bye')
    assert.equal(byMember(responses), { [b.me]: 'b', [c.me]: 'c, leaving' })
    assert.equal(responses.left, [])
  })
})

test('request – the timeout rejects naming who did not answer; an abort rejects with an AbortError', async () => {
  await withGroup(3, async ([a, b, c]) => {
    b.on('request', () => 'b')
    c.on('request', () => {})
    const err = await a.request('slow', { timeout: 150 }).catch((e) => e)
    assert.is(err.code, 'ERR_TROUPE_REQUEST_TIMEOUT')
    assert.match(err.message, /1 of 2 responses/)
    assert.ok(err.message.includes(c.me), err.message)
    const ac = new AbortController()
    const asked = a.request('slow', { signal: ac.signal })
    ac.abort(new Error('enough'))
    const aborted = await asked.catch((e) => e)
    assert.is(aborted.name, 'AbortError')
    assert.is(aborted.cause.message, 'enough')
    assert.is(a.stats().requests.waiting, 0)
  })
})

test("request – 'total' requests from two askers reach every member in one order, among total messages", async () => {
  await withGroup(4, async ([a, b, c, d]) => {
    const seen = new Map([[c, []], [d, []]])
    for (const [g, log] of seen) {
      g.on('request', (req) => {
        log.push(`req ${req.text()}`)
        return 'ok'
      })
      g.on('message', (m) => log.push(`msg ${m.text()}`))
    }
    const all = []
    for (let i = 0; i < 20; i++) {
      all.push(a.request(`a${i}`, { order: 'total', responses: 'all' }))
      all.push(b.request(`b${i}`, { order: 'total', responses: 'all' }))
      a.send(`ma${i}`, { order: 'total' })
      b.send(`mb${i}`, { order: 'total' })
    }
    await Promise.all(all)
    await until(() => seen.get(c).length === 80 && seen.get(d).length === 80, { what: 'every request and message at c and d' })
    assert.equal(seen.get(c), seen.get(d))
  })
})

test("request – `to` asks only the members it names (one replica serves it); the others never see it", async () => {
  await withGroup(4, async ([a, b, c, d]) => {
    const seen = { b: 0, c: 0, d: 0 }
    b.on('request', () => (seen.b++, 'b'))
    c.on('request', () => (seen.c++, 'c'))
    d.on('request', () => (seen.d++, 'd'))
    const one = await a.request('x', { to: [c.me] })
    assert.equal(one.map((r) => r.text()), ['c'])
    const two = await a.request('y', { to: [b.me, d.me], responses: 'all' })
    assert.equal(two.map((r) => r.text()).sort(), ['b', 'd'])
    // A fifo message from a after both requests: once each member has it, it has delivered them too.
    const marked = new Set()
    for (const g of [b, c, d]) g.on('message', () => marked.add(g))
    a.send('after')
    await until(() => marked.size === 3, { what: 'the marker at every member' })
    assert.equal(seen, { b: 1, c: 1, d: 1 })
    await throwsWith(() => a.request('z', { to: [a.me] }), RangeError, /names this member itself/, 'ERR_INVALID_ARG_VALUE')
    await throwsWith(() => a.request('z', { to: ['nobody#0000000000000000'] }), RangeError, /not in the current view/, 'ERR_INVALID_ARG_VALUE')
    await throwsWith(() => a.request('z', { to: [] }), TypeError, /option to of request\(\)/, 'ERR_INVALID_ARG_TYPE')
  })
})

test('request – replying twice throws; a reply too large is an error at the responder, not a hang at the asker', async () => {
  await withGroup(2, async ([a, b]) => {
    let second
    b.on('request', (req) => {
      req.reply('one')
      try {
        req.reply('two')
      } catch (e) {
        second = e
      }
    })
    const [r] = await a.request('twice')
    assert.is(r.text(), 'one')
    assert.is(second.code, 'ERR_TROUPE_ALREADY_REPLIED')
  })
  await withGroup(2, async ([a, b]) => {
    b.on('request', () => new Uint8Array(300_000))
    const got = await a.request('big')
    assert.is(got.length, 0)
    assert.match(got.failed[0].error.message, /larger than maxMessageSize/)
  }, { maxMessageSize: 100_000 })
})

test('request – arguments are checked and the errors name the option', async () => {
  await withGroup(1, async ([a]) => {
    await throwsWith(() => a.request(42), TypeError, /data of request\(\)/, 'ERR_INVALID_ARG_TYPE')
    await throwsWith(() => a.request('x', { responses: 'some' }), TypeError, /option responses of request\(\)/, 'ERR_INVALID_ARG_TYPE')
    await throwsWith(() => a.request('x', { responses: 0 }), RangeError, /option responses/, 'ERR_OUT_OF_RANGE')
    await throwsWith(() => a.request('x', { timeout: 0 }), RangeError, /option timeout of request\(\)/, 'ERR_OUT_OF_RANGE')
    await throwsWith(() => a.request('x', { order: 'bogus' }), RangeError, /option order of request\(\)/, 'ERR_INVALID_ARG_VALUE')
    await throwsWith(() => a.request('x', { respones: 'all' }), TypeError, /responses/, 'ERR_TROUPE_UNKNOWN_OPTION')
    await throwsWith(() => a.request('x', { signal: {} }), TypeError, /option signal of request\(\)/, 'ERR_INVALID_ARG_TYPE')
    await throwsWith(() => a.request('x', { replies: 'unicast' }), RangeError, /option replies of request\(\)/, 'ERR_INVALID_ARG_VALUE')
    // Alone in the view: no one to ask.
    const alone = await a.request('anyone?')
    assert.is(alone.length, 0)
  })
})

test('request – in a closed group, and over udp-unicast: replies reach the asker alone', async () => {
  await withGroup(3, async ([a, b, c]) => {
    for (const g of [b, c]) g.on('request', (req) => `sealed ${req.text()}`)
    const got = await a.request('x')
    assert.equal(got.map((r) => r.text()), ['sealed x', 'sealed x'])
  }, { key: randomBytes(32) })
  const name = uniqueGroup('request-unicast')
  const base = defaultEndpoint(name).port
  const peers = [0, 1, 2].map((i) => `127.0.0.1:${base + i}`)
  const groups = []
  try {
    for (const i of [0, 1, 2]) groups.push(await Group.join(name, { name: `u${i}`, transport: 'udp-unicast', peers, port: base + i, datagramSize: 1472 }))
    await until(() => groups.every((g) => g.view.members.length === 3), { timeout: 10000, what: 'a view of 3' })
    for (const g of groups.slice(1)) g.on('request', () => g.me)
    const got = await groups[0].request('who')
    assert.equal(got.map((r) => r.text()).sort(), [groups[1].me, groups[2].me].sort())
    for (const g of groups.slice(1)) assert.is(g.stats().requests.overheard, 0)
  } finally {
    await Promise.all(groups.map((g) => g.leave().catch(() => {})))
  }
})

test('request – direct messages: in order and exactly once, whole (those past a datagram in pieces), over a link that loses, reorders and duplicates', () => {
  // Two Direct channels wired through a seeded lossy link; time moves by hand.
  const seed = Number(process.env.SEED ?? Date.now() % 1e9)
  let x = seed >>> 0 || 1
  const rand = () => ((x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32)
  let now = 0
  const inFlight = []
  const got = []
  const flushes = [] // (the end of a turn: when the test says)
  const make = (me) => new Direct({
    send: (c, to) => {
      if (rand() < 0.2) return // lost
      inFlight.push({ c, to, from: me })
      if (rand() < 0.1) inFlight.push({ c, to, from: me }) // duplicated
    },
    deliver: (from, bytes) => got.push(`${bytes[0] + 256 * bytes[1]}:${bytes.length}:${bytes.subarray(2).every((b) => b === (bytes[0] ^ 0x5a))}`),
    now: () => now,
    later: (flush) => flushes.push(flush),
    retry: 10,
    maxControl: 200, // a few messages to a datagram
  })
  const ends = { a: make('a'), b: make('b') }
  // Every 7th message spans several datagrams (maxControl 200); its bytes after the index say which it is.
  const sizeOf = (i) => (i % 7 === 0 ? 2 + 150 + ((i * 37) % 900) : 2)
  for (let i = 0; i < 1000; i++) {
    const bytes = new Uint8Array(sizeOf(i)).fill((i & 255) ^ 0x5a)
    bytes[0] = i & 255
    bytes[1] = i >> 8
    ends.a.send('b', bytes)
  }
  for (const flush of flushes.splice(0)) flush()
  for (let step = 0; step < 10_000 && !(got.length === 1000 && ends.a.idle); step++) {
    // Deliver what is in flight in a shuffled order, then let time pass.
    for (let k = inFlight.length - 1; k > 0; k--) {
      const j = Math.floor(rand() * (k + 1))
      ;[inFlight[k], inFlight[j]] = [inFlight[j], inFlight[k]]
    }
    for (const { c, to, from } of inFlight.splice(0)) {
      if (c.kind === 'direct') ends[to].onDirect(from, c.parts)
      else ends[to].onAck(from, c.seq)
    }
    for (const flush of flushes.splice(0)) flush()
    now += 5
    ends.a.tick()
  }
  assert.equal(got, Array.from({ length: 1000 }, (_, i) => `${i}:${sizeOf(i)}:true`), `in order, exactly once, whole (SEED=${seed})`)
  assert.ok(ends.a.idle, `everything acknowledged (SEED=${seed})`)
  assert.ok(ends.a.resent > 0 && ends.b.dropped > 0, 'the link did lose and duplicate')
  ends.a.send('b', new Uint8Array([1, 0]))
  ends.a.onView(['a'])
  assert.ok(ends.a.idle, 'a peer gone from the view is forgotten')
})

test('request – the room drops what does not parse, and ignores replies to others', () => {
  const sent = []
  const room = new Requests({
    me: () => 'me#1',
    view: () => ({ id: 1, members: ['me#1', 'x#2'], coordinator: 'me#1' }),
    send: () => {},
    reply: (m) => sent.push(m),
    handlers: () => [() => 'r'],
    maxMessageSize: 1 << 20,
  })
  room.onMessage({ sender: 'x#2', data: new Uint8Array([ROOM_REQUESTS, 9, 0, 0, 1, 0, 0, 0]), order: 'fifo' })
  room.onMessage({ sender: 'x#2', data: new Uint8Array([ROOM_REQUESTS, Kind.request, 0]), order: 'fifo' })
  room.onReply('x#2', new Uint8Array([ROOM_REQUESTS, Kind.reply, 0, 0, 1, 0, 0, 0, 200, 0])) // asker longer than the message
  room.onReply('x#2', new Uint8Array([ROOM_REQUESTS, 77, 0, 0, 1, 0, 0, 0, 0, 0]))
  assert.is(room.dropped, 4)
  room.onReply('x#2', encodeReply(Kind.reply, 1, 'other#3', new Uint8Array([1])))
  assert.is(room.dropped, 4, 'a reply to another member is not malformed')
  assert.is(sent.length, 0)
  room.onMessage({ sender: 'x#2', data: encodeRequest(7, new Uint8Array([5])), order: 'fifo' })
  assert.is(sent.length, 1, 'a well-formed request is answered')
})

test.run()
