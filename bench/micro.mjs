// Micro-benchmarks (tinybench) of the per-message costs on the hot path, each
// against a baseline measured in the same run:
//   - send(): one 100 B message into the outbound ring (the engine packs and
//     sends once per burst) vs. a plain Uint8Array copy of the same bytes;
//   - the codec: decode() of an 8 KiB DATA datagram (one N-API call) vs. an
//     empty N-API call (groupHash of a 1-byte name).
// Run: node bench/micro.mjs   (after npm install)
import { Bench } from 'tinybench'
import { Group } from '../dist/index.js'
import { addon } from '../dist/engine.js'

const group = await Group.join(`micro-${process.pid}`, { receiveOwn: false })
const msg = new Uint8Array(100)
const copyTarget = new Uint8Array(4096)
let at = 0
let blocked = 0

// A DATA datagram of 78 messages of 100 B, made by the core itself.
const core = new addon.ManualCore({ groupHash: 1, datagramSize: 8192 }, 0)
for (let i = 0; i < 78; i++) core.submit(msg, 1, 0, 0)
core.flush(0)
const datagram = core.take().sent.find((s) => s.data[3] === 1).data

const bench = new Bench({ time: 1000 })
bench
  .add('baseline: copy 100 B into a buffer', () => {
    copyTarget.set(msg, at)
    at = (at + 128) & 4095
  })
  .add('group.send(100 B)', async () => {
    for (let i = 0; i < 256; i++) if (!group.send(msg)) blocked++
    await new Promise((r) => setImmediate(r))
  })
  .add('baseline: empty N-API call', () => {
    addon.groupHash('x')
  })
  .add('decode(8 KiB DATA datagram, 78 messages)', () => {
    addon.decode(datagram, 1)
  })
await bench.run()
console.table(bench.table())
console.log('group.send is measured in bursts of 256 (one flush and one event-loop turn per burst); per message = mean / 256.')
if (blocked) console.log(`send() returned false ${blocked} times (the window filled): those calls measured queueing`)
await group.leave()
