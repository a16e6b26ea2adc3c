// group.messages() and `for await (const msg of group)`: every message, in
// order, with backpressure that bounds memory; the ways an iteration ends;
// AbortSignals, group.closed and Symbol.asyncDispose.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { AbortError, Group } from '../dist/index.js'
import { throwsWith } from './helpers/assert.js'
import { withMembers } from './helpers/procs.js'
import { until, uniqueGroup } from './helpers/wait.js'

const iterateScript = new URL('./helpers/iterate-member.mjs', import.meta.url).pathname

//   sender (this process) ── 300,000 × 100 B, as fast as send() lets it ──► consumer (a process)
//                                                                          for await, highWaterMark 1024,
//                                                                          stalls 2 s after 1,000 messages
// While the consumer stalls, its member takes nothing from the inbound ring:
// the engine stops reading, the kernel buffers, and the sender's window fills
// (send() returns false). What the consumer allocates during the stall is
// bounded by what was already taken: highWaterMark messages, and we allow
// 8 MiB over that. Its RSS may grow more, by pages that are touched for the
// first time: the inbound ring as the engine fills it (8 MiB) and the V8
// young generation (one 16 MiB semi-space).
test('messages – a consumer that stalls 2 s behind a full-speed sender gets every message in order, and its memory stays bounded', async () => {
  const name = uniqueGroup('iterate')
  const total = 300_000
  const highWaterMark = 1024
  const inboundRing = 8 << 20
  const taken = highWaterMark * (100 + 256)
  const bound = taken + (8 << 20)
  const rssBound = taken + inboundRing + (16 << 20)
  await withMembers(name, [], async (_members, add) => {
    const consumer = add('consumer', { highWaterMark, stallAfter: 1000, stallMs: 2000, expect: total })
    await consumer.next((m) => m.type === 'joined', 15000, 'the consumer to join')
    const sender = await Group.join(name, { name: 'sender' })
    try {
      await until(() => sender.view.members.length === 2, { what: 'a view of 2' })
      const data = new Uint8Array(100)
      const index = new DataView(data.buffer)
      let refused = 0
      for (let i = 0; i < total; i++) {
        index.setUint32(0, i, true)
        if (!sender.send(data)) {
          refused++
          await new Promise((resolve) => sender.once('drain', resolve))
        }
      }
      const stall = await consumer.next((m) => m.type === 'stalled', 30000, 'the end of the stall')
      const done = await consumer.next((m) => m.type === 'done', 60000, 'every message at the consumer')
      assert.is(done.count, total, 'every message')
      assert.is(done.outOfOrder, 0, 'in the order sent')
      assert.is(done.views, 1, 'no view change: the stalled member is not suspected, nor anyone by it')
      assert.ok(refused > 0, "the sender was held back (send() returned false and it waited for 'drain')")
      const grew = stall.after.rss - stall.before.rss
      const allocated = (stall.after.heapUsed + stall.after.arrayBuffers) - (stall.before.heapUsed + stall.before.arrayBuffers)
      assert.ok(grew < rssBound, `RSS grew ${(grew / 2 ** 20).toFixed(1)} MiB during the stall; the bound is ${(rssBound / 2 ** 20).toFixed(1)} MiB`)
      assert.ok(allocated < bound, `heap and buffers grew ${(allocated / 2 ** 20).toFixed(1)} MiB during the stall; the bound is ${(bound / 2 ** 20).toFixed(1)} MiB`)
      console.log(`    stall: RSS +${(grew / 2 ** 20).toFixed(1)} MiB (bound ${(rssBound / 2 ** 20).toFixed(1)}), heap + buffers +${(allocated / 2 ** 20).toFixed(1)} MiB (bound ${(bound / 2 ** 20).toFixed(1)}); whole run RSS +${((done.rssMax - done.rssStart) / 2 ** 20).toFixed(0)} MiB; the sender waited for 'drain' ${refused} times`)
    } finally {
      await sender.leave()
    }
  }, iterateScript)
})

test('messages – for await over the group, break, a second iterator, and the end of the iteration when the group is left', async () => {
  const name = uniqueGroup('iterends')
  const a = await Group.join(name, { name: 'a' })
  const b = await Group.join(name, { name: 'b' })
  try {
    await until(() => a.view.members.length === 2 && b.view.members.length === 2, { what: 'a view of 2' })
    const all = b.messages()
    const firstThree = []
    const loop = (async () => {
      for await (const msg of b) {
        firstThree.push(msg.text())
        if (firstThree.length === 3) break
      }
    })()
    for (let i = 0; i < 10; i++) a.send(`m${i}`)
    await loop
    assert.equal(firstThree, ['m0', 'm1', 'm2'])
    const seen = []
    for (let i = 0; i < 10; i++) seen.push((await all.next()).value.text())
    assert.equal(seen, [...Array(10).keys()].map((i) => `m${i}`), 'the other iterator got every message, after the first one broke off')
    a.send('last')
    assert.is((await all.next()).value.text(), 'last', 'a broken-off iterator holds nothing back')
    const ending = all.next()
    await b.leave()
    assert.equal(await ending, { value: undefined, done: true }, 'leave() ends the iteration')
    assert.equal(await b.messages().next(), { value: undefined, done: true }, 'an iterator of a closed group is done at once')
  } finally {
    await a.leave()
    await b.leave()
  }
})

test('messages – aborting the signal ends the iteration cleanly; bad options are refused', async () => {
  const g = await Group.join(uniqueGroup('iterabort'))
  try {
    const controller = new AbortController()
    const got = []
    const loop = (async () => {
      for await (const msg of g.messages({ signal: controller.signal, highWaterMark: 4 })) {
        got.push(msg.text())
        if (got.length === 2) controller.abort()
      }
      return 'ended'
    })()
    for (let i = 0; i < 5; i++) g.send(`x${i}`)
    assert.is(await loop, 'ended')
    assert.equal(got, ['x0', 'x1'])
    g.send('after')
    await until(() => g.stats().counters.messagesDelivered >= 6, { what: 'delivery after the abort (nothing held back by the aborted iterator)' })
    await throwsWith(() => g.messages({ highWaterMark: 0 }), RangeError, /highWaterMark of messages\(\) must be between 1/, 'ERR_OUT_OF_RANGE')
    await throwsWith(() => g.messages({ highWatermark: 10 }), TypeError, /did you mean 'highWaterMark'/, 'ERR_TROUPE_UNKNOWN_OPTION')
    await throwsWith(() => g.messages({ signal: {} }), TypeError, /signal of messages\(\) must be an AbortSignal/, 'ERR_INVALID_ARG_TYPE')
  } finally {
    await g.leave()
  }
})

test('signals – join, sync and leave take an AbortSignal; closed resolves; Symbol.asyncDispose leaves', async () => {
  const name = uniqueGroup('signals')
  await throwsWith(() => Group.join(name, { signal: AbortSignal.abort() }), AbortError, /aborted/, 'ABORT_ERR')
  const controller = new AbortController()
  // A group nobody else is in: join() waits out discovery (300 ms); abort it meanwhile.
  const joining = Group.join(uniqueGroup('signals-alone'), { signal: controller.signal, discovery: 5000 })
  setImmediate(() => controller.abort(new Error('stop')))
  try {
    await joining
    assert.unreachable('join() resolved')
  } catch (err) {
    assert.instance(err, AbortError)
    assert.is(err.code, 'ABORT_ERR')
    assert.is(err.cause.message, 'stop')
  }

  const g = await Group.join(name)
  let closed = false
  g.closed.then(() => (closed = true))
  await g.sync({ signal: new AbortController().signal })
  await throwsWith(() => g.sync({ signal: AbortSignal.abort() }), AbortError, /sync\(\) was aborted/, 'ABORT_ERR')
  await throwsWith(() => g.sync({ singal: 1 }), TypeError, /did you mean 'signal'/, 'ERR_TROUPE_UNKNOWN_OPTION')
  await throwsWith(() => g.leave({ timeout: -1 }), RangeError, /timeout of leave\(\)/, 'ERR_OUT_OF_RANGE')
  assert.is(typeof g[Symbol.asyncDispose], 'function')
  await g[Symbol.asyncDispose]()
  await g.closed
  assert.ok(closed, 'closed resolved')
  await throwsWith(() => g.send('x'), Error, /was left/, 'ERR_TROUPE_CLOSED')

  const h = await Group.join(name)
  await throwsWith(() => h.leave({ signal: AbortSignal.abort() }), AbortError, /leave\(\) was aborted/, 'ABORT_ERR')
  await h.closed
})

test.run()
