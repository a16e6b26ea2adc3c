// Writes the seed corpora of the fuzz targets (native/test/corpus/<target>/),
// with the independent JS encoder of test/helpers/wire.js. Run it again after
// a change to the wire format or to the op format of native/test/fuzz_core.cc:
//   node scripts/fuzz-corpus.mjs
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as wire from '../test/helpers/wire.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const G = 0x1234abcd // the group of the core target (kGroup, native/test/fuzz_core_sink.h)
const bytes = (n, fill) => new Uint8Array(n).fill(fill)
const MAX = 2n ** 64n - 1n

function write(target, name, data) {
  const dir = path.join(root, 'native', 'test', 'corpus', target)
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, name), data)
}

function withFrag(d, index, frag) {
  // Sets the frag byte of message `index` of a DATA datagram.
  let at = 40
  for (let i = 0; i < index; i++) at += 4 + (d[at] | (d[at + 1] << 8))
  d[at + 3] = frag
  return d
}

function control(payload, opts = {}) {
  const { b } = wire.header(5, opts, 24 + payload.length)
  b.set(payload, 24)
  return b
}

// ---------------------------------------------------------------- wire: datagrams

const wireSeeds = {
  'data-one': wire.data(1, [bytes(10, 1)]),
  'data-three-fifo': wire.data(7, [bytes(3, 2), bytes(0, 0), bytes(100, 3)]),
  'data-unordered': wire.data(2, [bytes(5, 4), bytes(5, 5)], { order: 0 }),
  'data-total-record': wire.data(1, [bytes(16, 6)], { order: 15 }),
  'data-fragments': withFrag(withFrag(withFrag(wire.data(4, [bytes(20, 7), bytes(20, 8), bytes(20, 9)]), 0, 1), 1, 2), 2, 3),
  'status-alone': wire.status(0, 'm0'),
  'status-acks': wire.status(12, 'member-two', [[1n, 5n], [2n, 12n], [3n, 0n]], { sender: 2n, lowestKept: 3 }),
  'nak-one': wire.nak(1n, [[1, 4]], { sender: 2n }),
  'nak-three': wire.nak(3n, [[1, 1], [5, 9], [20, 20]], { sender: 2n }),
  'leave': wire.header(4, { sender: 2n }, 24).b,
  // Regression: rejected (highestSent is a seq no DATA can carry).
  'regression-status-top-seq': wire.status(MAX, 'x', [], { lowestKept: 0 }),
  'control': control(new TextEncoder().encode('join?'), { sender: 3n }),
}
for (const [name, d] of Object.entries(wireSeeds)) write('wire', name, d)

// ---------------------------------------------------------------- core: op scripts

// The op format of native/test/fuzz_core.cc.
const cfg = ({ autoRemove = true, receiveOwn = true, retain = false, slots = 1, size = 1, bigWindow = false } = {}) =>
  (autoRemove ? 1 : 0) | (receiveOwn ? 2 : 0) | (retain ? 4 : 0) | (slots << 3) | (size << 5) | (bigWindow ? 0x80 : 0)
// route: bits 0-1 endpoint, 2-3 sender (0 us, 1-3 peers 2-4), 4 keep the bytes' sender, 5-6 patch mode.
const PEER = { 2: 1, 3: 2, 4: 3 }
function dg(d, { from = 2, step = 10, mode = 0, raw = false } = {}) {
  const route = (PEER[from] ?? 0) | (PEER[from] ?? 0) << 2 | (raw ? 0x10 : 0) | mode << 5
  return [0, d.length & 255, d.length >> 8, step, route, ...d]
}
const timer = (step) => [3, step]
const submit = (payload, { order = 1, frag = 0, flush = false } = {}) => [4 | (flush ? 8 : 0), payload.length, order | frag << 4, ...payload]
const loopback = (which) => [5, which]
const sink = (budget) => [6, budget]
// MEMBER arg: bits 0-1 peer (0 us, 1-3 peers 2-4), bits 2-4 the call, bits 5-7 its argument.
const member = (call, peer, arg = 0) => [7, (PEER[peer] ?? 0) | call << 2 | arg << 5]
const EXCLUDE = 0, FORGET = 1, ADVANCE = 2, FETCH = 3, SETVIEW = 4, LEAVE = 5, SENDCONTROL = 6, LAGS = 7
const script = (config, ...ops) => Uint8Array.from([config, ...ops.flat()])
const from = (sender) => ({ sender: BigInt(sender) })

write('core', 'exchange', script(cfg(),
  dg(wire.status(0, 'p2', [], from(2))),
  dg(wire.data(1, [bytes(10, 1), bytes(20, 2), bytes(5, 3)], from(2))),
  dg(wire.data(5, [bytes(8, 5)], from(2))), // 4 is missing
  timer(60), timer(60),
  dg(wire.data(4, [bytes(8, 4)], from(2))), // repaired
  submit(bytes(30, 9)), submit(bytes(40, 8), { flush: true }),
  loopback(0), timer(100),
  dg(wire.status(5, 'p2', [[1n, 2n], [2n, 5n]], from(2))),
  dg(wire.nak(1n, [[1, 2]], from(2))),
  timer(250),
  dg(wire.header(4, from(2), 24).b),
))

write('core', 'unordered-early', script(cfg({ slots: 0 }),
  dg(wire.status(0, 'p3', [], from(3)), { from: 3 }),
  dg(wire.data(3, [bytes(4, 3), bytes(4, 4)], { ...from(3), order: 0 }), { from: 3 }),
  dg(wire.data(1, [bytes(4, 1), bytes(4, 2)], from(3)), { from: 3 }),
  timer(40),
))

write('core', 'sink-full', script(cfg(),
  dg(wire.status(0, 'p2', [], from(2))),
  sink(1),
  dg(wire.data(1, [bytes(4, 1), bytes(4, 2), bytes(4, 3)], from(2))),
  dg(wire.data(4, [bytes(4, 4)], from(2))),
  sink(255), timer(10),
))

write('core', 'membership', script(cfg({ autoRemove: false }),
  dg(wire.status(0, 'p2', [], from(2))),
  dg(wire.status(0, 'p3', [], from(3)), { from: 3 }),
  dg(wire.data(1, [bytes(4, 1)], from(2))),
  member(EXCLUDE, 3), submit(bytes(12, 7), { flush: true }),
  // Past suspectTimeout (200 ms) in steps of 80 ms (one step over half the
  // timeout would look like our own stall): suspected, not removed.
  timer(203), timer(203), timer(203), timer(203),
  dg(wire.data(2, [bytes(4, 2)], from(2))), // heard again
  dg(wire.data(5, [bytes(4, 5)], from(2))),
  member(ADVANCE, 2, 2), member(SETVIEW, 0, 2), // 3 and 4 skipped, 5 delivered
  dg(control(bytes(9, 1), from(3)), { from: 3 }),
  member(SENDCONTROL, 3, 4), member(FORGET, 3), member(LEAVE, 0),
))

write('core', 'relay', script(cfg({ retain: true }),
  dg(wire.status(0, 'p2', [], from(2))),
  dg(wire.status(0, 'p3', [], from(3)), { from: 3 }),
  dg(wire.data(1, [bytes(30, 1), bytes(30, 2)], from(2))),
  dg(wire.nak(2n, [[1, 2]], from(3)), { from: 3 }), // 3 asks us for 2's seqs
  member(FETCH, 2, 1),
  submit(bytes(100, 5), { flush: true }), submit(bytes(100, 6), { flush: true }),
  dg(wire.status(2, 'p2', [[1n, 2n]], from(2))), // our seqs 1-2 stable
  dg(wire.nak(1n, [[1, 2]], from(3)), { from: 3 }), // freed from the log: relayed from what we kept
))

write('core', 'patched', script(cfg({ slots: 2, size: 2 }),
  // Filler bytes that patching turns into a valid STATUS (type byte 2), DATA
  // and NAK.
  dg(bytes(60, 0x02), { from: 2, mode: 3 }),
  dg(bytes(80, 0x01), { from: 2, mode: 3 }),
  dg(bytes(64, 0x03), { from: 3, mode: 2 }),
))

// Our window (4 KiB of 512-byte datagrams) fills while peer 2 acks nothing:
// after slowTimeout (50 ms) it is reported slow.
write('core', 'slow-receiver', script(cfg({ size: 0 }),
  dg(wire.status(0, 'p2', [], from(2))),
  ...Array.from({ length: 10 }, (_, i) => submit(bytes(200, i), { flush: true })),
  timer(150), timer(150), timer(150), timer(150), timer(150),
  member(LAGS, 0),
))

// Regression: a STATUS claiming the highest possible seq (2^64 - 1) made the
// peer's window start at seq 0 (wrapped), and a second one sent NoteHighest
// round a loop that never ends (16 receive slots: the window ends at 2^64 - 1).
write('core', 'regression-status-top-seq', script(cfg({ slots: 0 }),
  dg(wire.status(MAX - 16n, 'p2', [], { ...from(2), lowestKept: 1 })),
  dg(wire.status(MAX, 'p2', [], { ...from(2), lowestKept: 0 })),
  timer(10),
))
