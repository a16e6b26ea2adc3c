// Subjects in one process: NATS's wildcard rules ('*' one token, '>' the
// rest), '$' subjects matched only by name, messages with a subject kept
// from 'message', unsubscribe, orders across subjects, the argument checks,
// and malformed room messages dropped.
import { test } from 'uvu'
import { Net } from './helpers/net.js'
import { decodeRecords } from '../dist/node/records.js'
import * as assert from 'uvu/assert'
import { SubjectMessage } from '../dist/index.js'
import { matches, Subjects, ROOM_SUBJECTS } from '../dist/subjects.js'
import { until } from './helpers/wait.js'
import { throwsWith } from './helpers/assert.js'
import { withGroup as withGroupOf } from './helpers/groups.js'

const withGroup = (n, body, options) => withGroupOf('subjects', n, body, options)
const t = (s) => s.split('.')

test('subjects – matching follows the wildcard rules', () => {
  const cases = [
    ['md.EUR.USD', 'md.EUR.USD', true],
    ['md.EUR.*', 'md.EUR.USD', true],
    ['md.EUR.*', 'md.EUR', false],
    ['md.EUR.*', 'md.EUR.USD.spot', false],
    ['md.*.USD', 'md.GBP.USD', true],
    ['md.>', 'md.EUR.USD', true],
    ['md.>', 'md.EUR', true],
    ['md.>', 'md', false],
    ['>', 'anything.at.all', true],
    ['*', 'one', true],
    ['*', 'one.two', false],
    ['md.EUR.USD', 'md.EUR.GBP', false],
    ['>', '$blocks.map.x', false],
    ['*.map.x', '$blocks.map.x', false],
    ['$blocks.>', '$blocks.map.x', true],
    ['$blocks.map.*', '$blocks.map.x', true],
  ]
  for (const [p, s, want] of cases) assert.is(matches(t(p), t(s)), want, `${p} vs ${s}`)
})

test('subjects – each subscriber gets what its pattern matches, in order; none of it reaches \'message\'', async () => {
  await withGroup(2, async ([a, b]) => {
    const got = { eur: [], all: [], exact: [] }
    b.subscribe('md.EUR.*', (m) => got.eur.push(`${m.subject}=${m.text()}`))
    b.subscribe('md.>', (m) => got.all.push(m.subject))
    b.subscribe('md.GBP.USD', (m) => {
      assert.instance(m, SubjectMessage)
      assert.is(m.sender, a.me)
      got.exact.push(m.text())
    })
    let plain = 0
    b.on('message', () => plain++)
    for (let i = 0; i < 50; i++) {
      a.send(`${i}`, { subject: 'md.EUR.USD' })
      a.send(`${i}`, { subject: 'md.GBP.USD' })
      a.send(`${i}`, { subject: 'news.EUR' })
    }
    a.send('plain')
    await until(() => plain === 1 && got.exact.length === 50, { what: 'every message at b' })
    assert.equal(got.eur, Array.from({ length: 50 }, (_, i) => `md.EUR.USD=${i}`))
    assert.is(got.all.length, 100)
    assert.equal(got.exact, Array.from({ length: 50 }, (_, i) => `${i}`))
    assert.is(plain, 1, "only the message without a subject reached 'message'")
    const stats = b.stats().subjects
    assert.is(stats.subscriptions, 3)
    // news.EUR matched nothing here: the engine dropped it before JS (fifo), as a's
    // engine dropped all of its own 150 (a subscribed to nothing).
    assert.is(stats.skipped, 50, 'news.EUR matched nothing here: dropped in the engine')
    assert.is(stats.unmatched, 0, 'none of it reached JS')
    await until(() => a.stats().subjects.skipped === 150, { what: "a's own subject messages to be dropped in its engine" })
    // What a sends after them, without a subject, still comes in order (the skipped seqs moved its stream on).
    const after = []
    b.on('message', (m) => after.push(m.text()))
    a.send('x', { subject: 'news.GBP' })
    a.send('after-1')
    a.send('y', { subject: 'news.GBP', order: 'unordered' })
    a.send('after-2')
    a.send('t', { subject: 'news.GBP', order: 'total' })
    a.send('after-3')
    await until(() => after.length === 3, { what: "the messages after the dropped ones at b" })
    assert.equal(after, ['after-1', 'after-2', 'after-3'])
    await until(() => b.stats().subjects.unmatched === 1, { what: 'the total one to reach JS (the engine drops only fifo and unordered ones)' })
    assert.is(b.stats().subjects.skipped, 52)
  })
})

test('subjects – unsubscribe stops the handler at once; total order holds across subjects', async () => {
  await withGroup(3, async ([a, b, c]) => {
    const logs = new Map([[b, []], [c, []]])
    for (const [g, log] of logs) g.subscribe('x.*', (m) => log.push(`${m.subject}:${m.text()}`))
    let seen = 0
    const sub = b.subscribe('x.a', () => {
      seen++
      if (seen === 10) sub.unsubscribe()
    })
    for (let i = 0; i < 40; i++) {
      a.send(`${i}`, { subject: 'x.a', order: 'total' })
      c.send(`${i}`, { subject: 'x.b', order: 'total' })
    }
    await until(() => logs.get(b).length === 80 && logs.get(c).length === 80, { what: 'every message at b and c' })
    assert.equal(logs.get(b), logs.get(c), 'one order across subjects and senders')
    assert.is(seen, 10)
    assert.ok(sub.closed)
  })
})

test("subjects – with only 'batch' listeners (the ring read in place), a subscriber's msg.data stays valid after its handler", async () => {
  await withGroup(2, async ([a, b]) => {
    const kept = []
    let batched = 0
    b.on('batch', (batch) => {
      for (const _ of batch) batched++
    })
    b.subscribe('k.*', (m) => kept.push(m))
    for (let i = 0; i < 2000; i++) {
      a.send(`plain ${i}`)
      a.send(`subject ${i}`, { subject: `k.${i % 3}` })
    }
    await until(() => kept.length === 2000 && batched === 2000, { timeout: 10000, what: 'every message at b' })
    kept.forEach((m, i) => {
      assert.is(m.text(), `subject ${i}`)
      assert.is(m.subject, `k.${i % 3}`)
    })
  })
})

test('subjects – a subscription without a handler is an async iterator, with backpressure; break unsubscribes', async () => {
  await withGroup(2, async ([a, b]) => {
    const sub = b.subscribe('q.*', { highWaterMark: 16 })
    const total = 3000
    const sending = (async () => {
      for (let i = 0; i < total; i++) {
        if (!a.send(`${i}`, { subject: `q.${i % 2}` })) await new Promise((r) => a.once('drain', r))
      }
    })()
    let next = 0
    let maxQueued = 0
    for await (const m of sub) {
      assert.is(m.text(), `${next}`, 'in order, none lost')
      next++
      maxQueued = Math.max(maxQueued, sub.inbox.length)
      if (next % 100 === 0) await new Promise((r) => setTimeout(r, 1)) // a slow consumer
      if (next === total) break
    }
    await sending
    assert.ok(sub.closed, 'break unsubscribed')
    assert.is(b.stats().subjects.subscriptions, 0)
    assert.ok(maxQueued <= 16 + 64, `the queue stayed near its high-water mark (${maxQueued})`)
    // The group's end ends a loop too.
    const open = b.subscribe('q.>')
    const ended = (async () => {
      for await (const _ of open);
      return 'ended'
    })()
    await b.leave()
    assert.is(await ended, 'ended')
  })
})

test('subjects – the library\'s $ subjects reach only subscriptions that name them', async () => {
  await withGroup(2, async ([a, b]) => {
    const wild = []
    const named = []
    b.subscribe('>', (m) => wild.push(m.subject))
    b.subscribe('$blocks.>', (m) => named.push(m.subject))
    a.send('1', { subject: '$blocks.map.x' })
    a.send('2', { subject: 'app.y' })
    await until(() => wild.length === 1 && named.length === 1, { what: 'both messages' })
    assert.equal(wild, ['app.y'])
    assert.equal(named, ['$blocks.map.x'])
  })
})

test('subjects – arguments are checked', async () => {
  await withGroup(1, async ([a]) => {
    await throwsWith(() => a.send('x', { subject: 'md.*' }), RangeError, /no wildcards/, 'ERR_INVALID_ARG_VALUE')
    await throwsWith(() => a.send('x', { subject: 'md..x' }), RangeError, /empty token/, 'ERR_INVALID_ARG_VALUE')
    await throwsWith(() => a.send('x', { subject: 'md x' }), RangeError, /whitespace/, 'ERR_INVALID_ARG_VALUE')
    await throwsWith(() => a.send('x', { subject: 'x'.repeat(256) }), RangeError, /1 to 255 bytes/, 'ERR_INVALID_ARG_VALUE')
    await throwsWith(() => a.send('x', { subject: 7 }), TypeError, /option subject of send\(\)/, 'ERR_INVALID_ARG_TYPE')
    await throwsWith(() => a.send('x', { subjet: 'a' }), TypeError, /subject/, 'ERR_TROUPE_UNKNOWN_OPTION')
    await throwsWith(() => a.subscribe('md.>.x', () => {}), RangeError, /'>' must be the last token/, 'ERR_INVALID_ARG_VALUE')
    await throwsWith(() => a.subscribe('md.a*', () => {}), RangeError, /whole tokens only/, 'ERR_INVALID_ARG_VALUE')
    await throwsWith(() => a.subscribe('md.x', 42), TypeError, /options of subscribe\(\)/, 'ERR_INVALID_ARG_TYPE')
    await throwsWith(() => a.subscribe('md.x', { highWaterMark: 0 }), RangeError, /highWaterMark of subscribe\(\)/, 'ERR_OUT_OF_RANGE')
    await throwsWith(() => a.subscribe('md.x', () => {})[Symbol.asyncIterator](), TypeError, /not iterable/, 'ERR_INVALID_ARG_TYPE')
  })
})

test('subjects – malformed room messages are dropped and counted, never handed', () => {
  const room = new Subjects()
  let handed = 0
  room.subscribe('>', () => handed++)
  const msg = (bytes) => ({ sender: 's', data: new Uint8Array(bytes), order: 'fifo', seq: 1 })
  room.onMessage(msg([ROOM_SUBJECTS, 9, 0x61])) // shorter than its subject
  room.onMessage(msg([ROOM_SUBJECTS, 0])) // empty subject
  room.onMessage(msg([ROOM_SUBJECTS, 2, 0xff, 0xfe])) // not UTF-8
  room.onMessage(msg([ROOM_SUBJECTS, 3, 0x61, 0x2e, 0x2e])) // 'a..' : an empty token
  assert.is(room.dropped, 4)
  assert.is(handed, 0)
  room.onMessage({ sender: 's', data: room.frame('a.b', new Uint8Array([1])), order: 'fifo', seq: 2 })
  assert.is(handed, 1)
})

test('subjects – the engine drops what no pattern wants: a run of seqs is one skipped record; wildcards, $ subjects and other orders pass', () => {
  const net = new Net(2)
  net.introduce()
  const frame = (subject, text = 'x') => Uint8Array.from([3, subject.length, ...Buffer.from(subject), ...Buffer.from(text)])
  const core = net.cores[1]
  core.setSubjects(['md.a', 'fx.*', 'news.>', '$blocks.map.kv'])
  const send = (subject, order = 9) => core0.submit(subject === null ? Uint8Array.of(1, 2) : frame(subject), order, 0, net.now)
  const core0 = net.cores[0]
  for (let i = 0; i < 10; i++) send('md.b') // fifo subject messages nobody wants
  send('md.a')
  for (let i = 0; i < 5; i++) send('md.b', 8) // unordered ones
  send('fx.EUR') // '*'
  send('fx.EUR.USD') // '*' is one token: dropped
  send('news.x.y') // '>'
  send('news') // '>' needs one token or more: dropped
  send('$blocks.lock.l') // '$': named only
  send('$blocks.map.kv')
  send('md.b', 11) // total: always passes
  send(null, 1) // a plain fifo message
  core0.flush(net.now)
  net.collect()
  const queued = net.queue
  net.queue = []
  for (const p of queued) if (p.to === 1) core.input(p.data, 1, 1, net.now)
  const records = decodeRecords(core.take().records).filter((r) => r.type === 'message' || r.type === 'skipped')
  const shape = records.map((r) => (r.type === 'skipped' ? `skip ${r.first}-${r.last}` : `${r.seq}`))
  assert.equal(shape, ['skip 1-10', '11', 'skip 12-16', '17', 'skip 18-18', '19', 'skip 20-21', '22', '23', '24'])
  assert.is(core.counters().subjectsSkipped, 18)
  assert.throws(() => core.setSubjects('md.>'), (e) => e instanceof TypeError)
  core.setSubjects(null)
  send('md.b')
  core0.flush(net.now)
  net.deliver()
  assert.ok(net.delivered[1].some((d) => d.seq === 25), 'without a filter everything reaches JS')
})

test.run()
