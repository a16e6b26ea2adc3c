// Messages larger than one datagram, put together in the native sink
// (native/assembly.h) before JS sees them: one record per message where its
// last fragment stood, its bytes JS's own; a broken run of fragments, or one
// past maxMessageBytes, drops that message and still accounts for every seq;
// a member removed takes what it had begun with it.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { FragCode } from '../dist/boundary.js'
import { addon } from '../dist/engine.js'
import { Net } from './helpers/net.js'

const FIFO = 1
const { whole: WHOLE, first: FIRST, middle: MIDDLE, last: LAST } = FragCode

/** Core 0 submits each [frag, bytes] in turn; core 1 receives them all. */
function sendRun(net, pieces) {
  const core = net.cores[0]
  for (const [frag, bytes] of pieces) assert.is(core.submit(bytes, FIFO, frag, net.now), 'ok')
  core.flush(net.now)
  net.deliver()
}

function filled(n, byte) {
  return new Uint8Array(n).fill(byte)
}

function setup(options = {}) {
  const net = new Net(2, { datagramSize: 2048, ...options })
  net.introduce()
  return { net, from0: () => net.delivered[1].filter((d) => d.peer === net.peerOf(1, 0)), skipped0: () => net.skipped[1].filter((d) => d.peer === net.peerOf(1, 0)) }
}

test('assembly – a message of fragments reaches JS as one record at its last seq, whole and its own, between the messages around it', () => {
  const { net, from0 } = setup()
  const parts = [filled(1000, 1), filled(1000, 2), filled(1000, 3), filled(500, 4)]
  sendRun(net, [[WHOLE, filled(10, 9)], [FIRST, parts[0]], [MIDDLE, parts[1]], [MIDDLE, parts[2]], [LAST, parts[3]], [WHOLE, filled(20, 8)]])
  const got = from0()
  assert.equal(got.map((d) => [d.first ?? d.seq, d.seq, d.data.length]), [[1, 1, 10], [2, 5, 3500], [6, 6, 20]])
  const message = got[1].data
  assert.equal([message[0], message[999], message[1000], message[2999], message[3000], message[3499]], [1, 1, 2, 3, 4, 4])
  assert.is(message.byteOffset, 0, 'a buffer of its own')
  assert.is(message.buffer.byteLength, 3500)
  const c = net.cores[1].counters()
  assert.is(c.assemblyBytes, 0, 'nothing left in assembly')
  assert.is(c.assemblyDropped, 0)
  assert.is(net.cores[1].takeMessage(1), null, 'taken once')
})

test('assembly – a broken run of fragments drops its message and accounts for every seq; the next message is whole', () => {
  const { net, from0, skipped0 } = setup({ maxMessageBytes: 2500 })
  sendRun(net, [
    [MIDDLE, filled(100, 1)], // 1: nothing begun
    [FIRST, filled(100, 2)], // 2: begun...
    [FIRST, filled(100, 3)], // 3: ...and another begun: 2 goes
    [LAST, filled(100, 3)], // 4: 3..4 whole
    [FIRST, filled(1000, 5)], // 5
    [MIDDLE, filled(1000, 5)], // 6
    [MIDDLE, filled(1000, 5)], // 7: past 2,500 bytes: 5..7 go
    [LAST, filled(1000, 5)], // 8: nothing begun
    [WHOLE, filled(10, 6)], // 9
    [FIRST, filled(1000, 7)], // 10
    [LAST, filled(1000, 7)], // 11: 10..11 whole (2,000 bytes)
  ])
  assert.equal(from0().map((d) => [d.first ?? d.seq, d.seq, d.data.length, d.data[0]]), [[3, 4, 200, 3], [9, 9, 10, 6], [10, 11, 2000, 7]])
  assert.equal(skipped0().map((s) => [s.first, s.last]), [[1, 1], [2, 2], [5, 7], [8, 8]], 'every other seq, once')
  assert.is(net.cores[1].counters().assemblyDropped, 4)
})

test('assembly – a member removed takes the message it had begun with it', () => {
  const { net, from0 } = setup()
  sendRun(net, [[FIRST, filled(1000, 1)], [MIDDLE, filled(1000, 1)]])
  assert.equal(from0(), [], 'nothing whole yet')
  assert.is(net.cores[1].counters().assemblyBytes, 2000)
  net.cores[1].forget((1).toString(16).padStart(16, '0'))
  net.collect()
  assert.is(net.cores[1].counters().assemblyBytes, 0)
})


// Messages past 16 KiB are put together in blocks of 2 MiB slabs (one size a
// slab) that the kernel may back with huge pages (native/mapped_memory.h).
test('assembly – large messages share 2 MiB slabs, each still its own bytes, and the slabs are on huge pages where the kernel has them', () => {
  const { net, from0 } = setup({ datagramSize: 65507, windowBytes: 4 << 20 })
  const before = addon.messageMemory()
  const count = 40
  for (let i = 0; i < count; i++) sendRun(net, [[FIRST, filled(60_000, i)], [LAST, filled(40_000, 100 + i)]])
  const got = from0()
  assert.is(got.length, count)
  got.forEach((d, i) => {
    assert.is(d.data.length, 100_000)
    assert.equal([d.data[0], d.data[59_999], d.data[60_000], d.data[99_999]], [i, i, 100 + i, 100 + i], `message ${i}`)
    assert.is(d.data.buffer.byteLength, 100_000, 'a buffer of its own')
  })
  got[0].data.fill(255)
  assert.equal([got[1].data[0], got[1].data[99_999]], [1, 101], 'writing one message leaves the next alone')
  // Every core puts the messages together (the sender gets its own back), in
  // blocks of 112 KiB, 18 to a slab; the first of each core began in a block
  // of 64 KiB (another slab) before its size was known. A mapping each before
  // slabs (80 here).
  const assembled = net.delivered.flat().filter((d) => d.data?.length === 100_000).length
  assert.ok(assembled >= count)
  const mapped = addon.messageMemory().mapped - before.mapped
  assert.ok(mapped >= 1 && mapped <= Math.ceil(assembled / 18) + 1, `fresh mappings for ${assembled} messages: ${mapped}`)
  const thp = readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8')
  if (/\[(always|madvise)\]/.test(thp)) {
    const huge = Number(/AnonHugePages:\s+(\d+)/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))[1])
    assert.ok(huge >= 2048, `huge pages in use (kB): ${huge}`)
  } else {
    console.log(`(transparent huge pages: ${thp.trim()}: not asked for)`)
  }
})

test('assembly – memory let go of is kept for reuse up to 64 MiB a process; slabs past it are given back', () => {
  // A child with gc(): 100 MiB of blocks (800 of 128 KiB, 50 slabs), written
  // so they are resident, then let go of. At most 64 MiB (and the slab being
  // emptied) stays kept; the rest goes back to the kernel.
  const script = `
    const { addon } = await import(${JSON.stringify(new URL('../dist/engine.js', import.meta.url).href)})
    let blocks = []
    for (let i = 0; i < 800; i++) blocks.push(addon.reusableBytes(100000).fill(i & 0xff))
    const held = addon.messageMemory().keptBytes
    const rssHeld = process.memoryUsage().rss
    blocks = null
    for (let i = 0; i < 20; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)) }
    const after = addon.messageMemory()
    process.stdout.write(JSON.stringify({ held, kept: after.keptBytes, rssHeld, rss: process.memoryUsage().rss, mapped: after.mapped }))
  `
  const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 }))
  const MiB = 1 << 20
  assert.ok(out.mapped <= 51, `slabs mapped for 800 blocks of 128 KiB: ${out.mapped}`)
  assert.ok(out.kept <= 66 * MiB, `kept for reuse: ${(out.kept / MiB).toFixed(1)} MiB`)
  assert.ok(out.kept >= 48 * MiB, `kept for reuse: ${(out.kept / MiB).toFixed(1)} MiB (the bound, not nothing)`)
  assert.ok(out.rss < out.rssHeld - 24 * MiB, `RSS ${(out.rssHeld / MiB).toFixed(0)} -> ${(out.rss / MiB).toFixed(0)} MiB: slabs past the bound given back`)
})

test.run()
