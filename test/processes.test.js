// Members in separate processes on loopback multicast.
//
//   p0 ─┐                 every member sends N messages while the engine's
//   p1 ─┼─ 239.192.x.y ─  injector drops 5%, reorders 5% and duplicates 2%
//   p2 ─┘                 of what each receives
//
// Every member must deliver every message of every sender exactly once, in
// FIFO order.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Group } from '../dist/index.js'
import { withMembers } from './helpers/procs.js'
import { until, uniqueGroup } from './helpers/wait.js'

const allInView = (members, n) =>
  Promise.all(members.map((m) => m.next((x) => x.type === 'view' && x.members.length === n, 15000, `a view of ${n}`)))

test('processes – 3 members, 5% loss + reordering + duplication: every message exactly once, in FIFO order', async () => {
  const seed = Number(process.env.SEED ?? Date.now() % 1e9)
  const N = 20000
  // 8 KiB datagrams: ~1,500 of them a member, so every member surely meets loss to repair.
  const inject = (i) => ({ datagramSize: 8192, inject: { loss: 0.05, reorder: 0.05, duplicate: 0.02, seed: seed + i } })
  try {
    await withMembers(uniqueGroup('lossy'), [0, 1, 2].map((i) => [`p${i}`, inject(i)]), async (members) => {
      await allInView(members, 3)
      for (const m of members) m.command({ cmd: 'send', count: N, size: 100 })
      await Promise.all(members.map((m) => m.next((x) => x.type === 'sent', 60000, 'sent')))
      const ids = members.map((m) => m.me)
      const deadline = Date.now() + 60000
      let reports
      for (;;) {
        reports = await Promise.all(members.map((m) => m.report()))
        const complete = reports.every((r) => ids.every((id) => r.senders[id]?.count >= N))
        if (complete || Date.now() > deadline) break
        await new Promise((r) => setTimeout(r, 100)) // polling the members' reports, with a deadline
      }
      for (const [i, r] of reports.entries()) {
        for (const id of ids) {
          const s = r.senders[id]
          assert.ok(s, `p${i} delivered nothing from ${id}`)
          assert.is(s.count, N, `p${i} delivered ${s.count}/${N} from ${id}`)
          assert.is(s.violations, 0, `p${i}: FIFO/exactly-once broken from ${id}: ${JSON.stringify(s.firstViolation)}`)
        }
        const c = r.stats.counters
        assert.ok(c.injectedLoss > 0 && c.injectedReorders > 0 && c.injectedDuplicates > 0, 'the injector was at work')
        assert.ok(c.naksSent > 0 && c.repaired > 0, `p${i} repaired losses (naks ${c.naksSent}, repaired ${c.repaired})`)
        assert.is(c.unrecoverable, 0)
      }
    })
  } catch (e) {
    console.error(`processes test failed with SEED=${seed} (rerun: SEED=${seed} npm test)`)
    throw e
  }
})

test('flow control – a stopped receiver turns send() false, memory stays within the window, all is delivered after SIGCONT', async () => {
  const window = 256 * 1024
  const N = 100000
  const options = { window, suspectTimeout: 60000 }
  await withMembers(uniqueGroup('flow'), [['sender', options], ['r1', options], ['r2', options]], async ([sender, r1, r2]) => {
    await allInView([sender, r1, r2], 3)
    r1.signal('SIGSTOP')
    sender.command({ cmd: 'send', count: N, size: 100 })
    const blocked = await sender.next((x) => x.type === 'blocked', 20000, 'send() to return false')
    assert.ok(blocked.sent < N, `send() returned false after ${blocked.sent} of ${N}`)
    // While r1 stays stopped, nothing more is accepted and the log stays within the window.
    const samples = []
    for (let i = 0; i < 5; i++) {
      const r = await sender.report()
      samples.push(r.stats)
      await new Promise((res) => setTimeout(res, 100)) // sampling over time while r1 is stopped
    }
    for (const s of samples) {
      assert.ok(s.counters.logBytes <= window, `retransmit log ${s.counters.logBytes} <= window ${window}`)
      assert.ok(s.counters.logPeakBytes <= window, `log peak ${s.counters.logPeakBytes} <= window`)
      assert.ok(s.pendingBytes <= 100, `queued ${s.pendingBytes} bytes: the sender waits for 'drain'`)
    }
    assert.is(samples.at(-1).counters.highestSent, samples[0].counters.highestSent, 'nothing new sent while r1 is stopped')
    // stats() shows who holds the window: r1, ever further behind; r2 holds everything.
    const lagOf = (stats, m) => stats.members.find((x) => x.member === m.me)
    const first = lagOf(samples[0], r1), last = lagOf(samples.at(-1), r1)
    assert.ok(first && last.lag > 0 && last.lag === samples.at(-1).counters.highestSent - last.acked, `r1's lag is shown (${JSON.stringify(last)})`)
    assert.ok(last.behindMs > first.behindMs, 'and how long it has held the window')
    assert.is(lagOf(samples.at(-1), r2).lag, 0, 'r2 holds everything sent')
    r1.signal('SIGCONT')
    const done = await sender.next((x) => x.type === 'sent', 60000, 'all sent after SIGCONT')
    assert.ok(done.sawFalse)
    const deadline = Date.now() + 60000
    for (const r of [r1, r2]) {
      for (;;) {
        const rep = await r.report()
        const s = rep.senders[sender.me]
        if ((s && s.count >= N) || Date.now() > deadline) {
          assert.ok(s, `${r.name} delivered nothing`)
          assert.is(s.count, N, `${r.name} delivered ${s.count}/${N}`)
          assert.is(s.violations, 0)
          break
        }
        await new Promise((res) => setTimeout(res, 100)) // polling reports, with a deadline
      }
    }
  })
})

test('order credit – a stalled sequencer holds total senders back: send() turns false, unplaced bytes stay within 2 windows, all comes in one order after', async () => {
  const window = 256 * 1024
  const limit = 2 * window
  const size = 1000
  const N = 3000 // 3 MB: many times the credit
  const name = uniqueGroup('credit')
  await withMembers(name, [['seq', { window }]], async ([seq]) => {
    await seq.next((x) => x.type === 'joined', 15000, 'the sequencer joined')
    const a = await Group.join(name, { name: 'a', window })
    const b = await Group.join(name, { name: 'b', window })
    try {
      await until(() => a.view.members.length === 3 && b.view.members.length === 3, { timeout: 15000, what: 'a view of 3' })
      assert.is(a.view.coordinator, seq.me, 'the first member sequences')
      const got = { a: [], b: [] }
      const index = (m) => new DataView(m.data.buffer, m.data.byteOffset).getUint32(0, true)
      a.on('message', (m) => got.a.push(index(m)))
      b.on('message', (m) => got.b.push(index(m)))
      // The sequencer's JS stops (its engine still acks): nothing is placed.
      seq.command({ cmd: 'stall', ms: 1500 })
      const buf = new Uint8Array(size)
      const dv = new DataView(buf.buffer)
      let sent = 0, most = 0, blockedAt = null
      const deadline = Date.now() + 20000
      while (sent < N) {
        dv.setUint32(0, sent, true)
        const ok = a.send(buf, { order: 'total' })
        sent++
        const out = a.stats().orderedBytes
        most = Math.max(most, out)
        if (!ok) {
          blockedAt ??= { sent, stats: a.stats() }
          await new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no 'drain' after ${sent} sends`)), Math.max(0, deadline - Date.now()))
            a.once('drain', () => {
              clearTimeout(timer)
              resolve()
            })
          })
        } else if ((sent & 63) === 0) {
          await new Promise((r) => setImmediate(r))
        }
      }
      await seq.next((x) => x.type === 'stalled', 15000, 'the stall to end')
      assert.ok(blockedAt, 'send() returned false')
      assert.ok(blockedAt.stats.orderedBytes + size > limit, `it was the order credit: ${blockedAt.stats.orderedBytes} bytes unplaced at the first false`)
      assert.ok(most <= limit + size, `unplaced bytes stayed within 2 windows (at most ${most})`)
      await until(() => got.a.length === N && got.b.length === N, { timeout: 20000, what: 'every message at a and b', detail: () => `${got.a.length} ${got.b.length}` })
      assert.equal(got.a, Array.from({ length: N }, (_, i) => i), 'FIFO, nothing lost or repeated')
      assert.equal(got.b, got.a, 'the same order at b')
      const rep = await seq.report()
      assert.is(rep.senders[a.me]?.count, N, 'the sequencer delivered them all too')
      assert.is(rep.senders[a.me]?.violations, 0)
      assert.is(a.stats().orderedBytes, 0, 'nothing waits for its place at the end')
    } finally {
      await Promise.all([a.leave(), b.leave()])
    }
  })
})

test('slow receivers – slowReceiver "evict": a member that holds the window too long is removed, the sender goes on, and it rejoins later', async () => {
  const N = 50000
  const options = { window: 256 * 1024, suspectTimeout: 60000, slowReceiver: 'evict', slowReceiverTimeout: 500 }
  await withMembers(uniqueGroup('evict'), [['sender', options], ['r1', options], ['r2', options]], async ([sender, r1, r2]) => {
    await allInView([sender, r1, r2], 3)
    const stoppedId = r1.me
    r1.signal('SIGSTOP')
    sender.command({ cmd: 'send', count: N, size: 100 })
    const slow = await sender.next((x) => x.type === 'slow', 20000, "the 'slow' event")
    assert.is(slow.member, stoppedId)
    assert.ok(slow.evicting && slow.lag > 0, JSON.stringify(slow))
    // Long before suspectTimeout (60 s), a view without r1; the sender finishes.
    await sender.next((x) => x.type === 'view' && x.members.length === 2 && !x.members.includes(stoppedId), 20000, 'a view without r1')
    await sender.next((x) => x.type === 'sent', 30000, 'all sent while r1 is still stopped')
    const deadline = Date.now() + 30000
    for (;;) {
      const rep = await r2.report()
      const s = rep.senders[sender.me]
      if ((s && s.count >= N) || Date.now() > deadline) {
        assert.is(s?.count, N, `r2 delivered ${s?.count}/${N}`)
        assert.is(s.violations, 0)
        break
      }
      await new Promise((res) => setTimeout(res, 100)) // polling reports, with a deadline
    }
    // Woken up, r1 finds itself out of the view and joins again.
    r1.signal('SIGCONT')
    await r1.next((x) => x.type === 'rejoining', 20000, 'r1 to rejoin')
    await sender.next((x) => x.type === 'view' && x.members.length === 3, 20000, 'r1 back in the view')
  })
})

test.run()
