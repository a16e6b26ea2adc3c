// The SPSC ring shared by C++ and JS, stressed from two threads.
// Allowed outcome for every record k, in consumer order: it follows k-1, and
// its length, type, flags and bytes are exactly what the producer wrote.
// Forbidden: a torn record, a gap or duplicate, a length never written.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { nativeTool } from './helpers/tools.js'
import { Worker } from 'node:worker_threads'
import { RingConsumer, RingProducer, RING_HEADER_BYTES } from '../dist/ring.js'

const stressBinary = nativeTool('ring_stress')

test('ring – C++ producer and consumer threads, 2M records through an 8 KiB ring', () => {
  const out = JSON.parse(execFileSync(stressBinary, ['2000000', '8192'], { encoding: 'utf8' }))
  assert.is(out.seen, 2000000)
  assert.is(out.torn, 0)
  assert.is(out.outOfSequence, 0)
  assert.is(out.badHeader, 0)
  assert.ok(out.fullStalls > 0, 'the ring was full many times (wraps and stalls exercised)')
})

test('ring – JS producer (worker thread) and JS consumer, 300k records through a 16 KiB ring', async () => {
  const capacity = 16384
  const n = 300_000
  const memory = new SharedArrayBuffer(RING_HEADER_BYTES + capacity)
  const consumer = new RingConsumer(memory, 0, capacity)
  const worker = new Worker(new URL('./helpers/ring-worker.js', import.meta.url), { workerData: { memory, capacity, n } })
  const done = new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  const sizeOf = (k) => 4 + ((k * 2654435761) >>> 0) % 300
  let expect = 0, torn = 0, outOfSequence = 0, badHeader = 0
  const deadline = Date.now() + 60_000
  while (expect < n) {
    if (Date.now() > deadline) break
    const batch = consumer.take()
    if (!batch) {
      await new Promise((r) => setImmediate(r))
      continue
    }
    const { bytes, view } = batch
    for (let at = 0; at < bytes.length; ) {
      const length = view.getUint32(at, true), type = view.getUint16(at + 4, true), flags = view.getUint16(at + 6, true)
      const next = at + ((length + 7) & ~7)
      if (type !== 1) {
        const k = view.getUint32(at + 8, true)
        if (k !== expect) outOfSequence++
        if (length - 8 !== sizeOf(k) || type !== 2 + (k % 3) || flags !== (k & 0xffff)) badHeader++
        else for (let i = 4; i < length - 8; i++) if (bytes[at + 8 + i] !== ((k * 31 + i * 7) & 255)) { torn++; break }
        expect = k + 1
      }
      at = next
    }
  }
  const { stalls } = await done
  await worker.terminate()
  assert.is(expect, n, 'every record arrived')
  assert.is(torn, 0)
  assert.is(outOfSequence, 0)
  assert.is(badHeader, 0)
  assert.ok(stalls > 0, 'the producer found the ring full')
})

test("ring – a batch's memory let go of takes the next batch of any size in the same power of two (reusableBytes)", () => {
  // A child with gc(): the first batch's memory, marked and let go of,
  // comes back for a batch of another size (not zero-filled: the mark shows).
  const script = `
    const { addon } = await import(${JSON.stringify(new URL('../dist/engine.js', import.meta.url).href)})
    let first = addon.reusableBytes(300000)
    first.fill(0xab)
    first = null
    for (let i = 0; i < 20; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)) }
    const next = addon.reusableBytes(400000)
    process.stdout.write(JSON.stringify({ length: next.length, marked: next[0] === 0xab && next[299999] === 0xab }))
  `
  const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 }))
  assert.is(out.length, 400000, 'as many bytes as asked')
  assert.ok(out.marked, 'in the memory the first let go of')
})

test('ring – take() with a limit hands whole records, in order, at most maxTake bytes a batch (or one larger record alone)', () => {
  const capacity = 16384, maxTake = 1000
  const memory = new SharedArrayBuffer(RING_HEADER_BYTES + capacity)
  const producer = new RingProducer(memory, 0, capacity)
  const consumer = new RingConsumer(memory, 0, capacity, undefined, maxTake)
  // Sizes from 1 to 2,500 bytes: some records alone exceed the limit; the
  // ring wraps many times (pad records at its end).
  const sizeOf = (k) => 1 + ((k * 2654435761) >>> 0) % 2500
  const n = 3000
  let written = 0, expect = 0, batches = 0, over = 0, alone = 0
  while (expect < n) {
    while (written < n) {
      const size = Math.max(4, sizeOf(written))
      const rec = new Uint8Array(size)
      new DataView(rec.buffer).setUint32(0, written, true)
      rec.fill(written & 255, 4)
      if (!producer.write(2, 0, rec, 0, size)) break
      written++
    }
    producer.publish()
    for (let batch = consumer.take(); batch !== null; batch = consumer.take()) {
      const { bytes, view } = batch
      batches++
      let records = 0
      for (let at = 0; at < bytes.length; ) {
        const length = view.getUint32(at, true)
        if (view.getUint16(at + 4, true) !== 1) {
          records++
          assert.is(view.getUint32(at + 8, true), expect, 'records in order, none missed')
          assert.is(length - 8, Math.max(4, sizeOf(expect)))
          assert.is(bytes[at + length - 1], length - 8 > 4 ? expect & 255 : bytes[at + length - 1])
          expect++
        }
        at += (length + 7) & ~7
      }
      if (bytes.length > maxTake) {
        over++
        if (records === 1) alone++
      }
    }
  }
  assert.is(expect, n)
  assert.ok(batches > 100, `many batches (${batches})`)
  assert.ok(over > 0, 'records larger than the limit came')
  assert.is(alone, over, 'a batch past the limit is one record alone (with the padding before it, if any)')
})

test("ring – take() hands a batch to the engine's copy (gather) when it holds a reference record or is large, and copies a small plain one itself", () => {
  const capacity = 1 << 20
  const memory = new SharedArrayBuffer(RING_HEADER_BYTES + capacity)
  const producer = new RingProducer(memory, 0, capacity)
  const REF = 10
  const calls = []
  const consumer = new RingConsumer(memory, 0, capacity, undefined, Infinity, {
    referenceType: REF,
    take: (max) => {
      // Stands in for the engine: takes everything published, as Engine::TakeInbound would.
      const ctl = new Int32Array(memory, 0, RING_HEADER_BYTES / 4)
      const tail = Atomics.load(ctl, 0)
      calls.push(max)
      Atomics.store(ctl, 128 / 4, tail)
      return Uint8Array.of(1, 2, 3)
    },
  })
  const write = (type, size) => assert.ok(producer.write(type, 0, new Uint8Array(size).fill(type), 0, size))
  // Small and plain (a round trip's): copied in JS, the records as written.
  write(2, 100)
  write(3, 20)
  producer.publish()
  const plain = consumer.take()
  assert.is(calls.length, 0, 'no engine copy for a small plain batch')
  assert.is(plain.bytes.length, 112 + 32)
  assert.is(plain.view.getUint16(4, true), 2)
  assert.is(consumer.take(), null)
  // Small, with a reference among plain records: the engine's copy.
  write(2, 100)
  write(REF, 24)
  write(2, 100)
  producer.publish()
  assert.equal([...consumer.take().bytes], [1, 2, 3])
  assert.is(calls.length, 1, 'a batch with a reference goes to the engine')
  assert.is(consumer.take(), null, 'and its space was handed back')
  // Large and plain: the engine's copy too.
  for (let i = 0; i < 40; i++) write(2, 1000)
  producer.publish()
  assert.equal([...consumer.take().bytes], [1, 2, 3])
  assert.is(calls.length, 2, 'a large batch goes to the engine')
})

test.run()
