// Bulk transfers (group.transfer, RGDD) in one process: bytes, files and
// streams arrive whole at every receiver named; the argument checks; an
// abort, a receiver that destroys its stream, one without a listener; and the
// room dropping what does not parse.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { randomBytes } from 'node:crypto'
import { Group, TransferError } from '../dist/index.js'
import { defaultEndpoint } from '../dist/options.js'
import { addon } from '../dist/engine.js'
import { Transfers } from '../dist/transfer/room.js'
import { encodeBegin, encodeEnd, HEADER, Kind, writeHeader } from '../dist/transfer/wire.js'
import { until, uniqueGroup } from './helpers/wait.js'
import { throwsWith } from './helpers/assert.js'
import { withGroup as withGroupOf } from './helpers/groups.js'

const withGroup = (n, body, options) => withGroupOf('transfer', n, body, options)

/** Collects each receiver's stream into one Buffer (resolves per receiver with { t, bytes } or { t, error }). */
function collect(g) {
  return new Promise((resolve) => {
    g.once('transfer', async (t) => {
      const parts = []
      const progress = []
      t.on('progress', (p) => progress.push(p.bytes))
      try {
        for await (const chunk of t) parts.push(chunk)
        resolve({ t, bytes: Buffer.concat(parts), progress })
      } catch (error) {
        resolve({ t, error })
      }
    })
  })
}

test('transfer – bytes reach every other member whole; progress on both sides; the result names them', async () => {
  await withGroup(3, async ([a, b, c]) => {
    const data = randomBytes(3 << 20 | 12345) // (not a multiple of a chunk)
    const got = [collect(b), collect(c)]
    const transfer = a.transfer(data, { name: 'blob' })
    const progress = []
    transfer.on('progress', (p) => progress.push(p))
    const result = await transfer
    assert.equal([...result.to].sort(), [b.me, c.me].sort())
    assert.is(result.bytes, data.length)
    assert.is(result.name, 'blob')
    for (const r of await Promise.all(got)) {
      assert.is(r.error, undefined, `${r.error}`)
      assert.ok(r.bytes.equals(data), 'the same bytes')
      assert.is(r.t.from, a.me)
      assert.is(r.t.name, 'blob')
      assert.is(r.t.size, data.length)
      assert.is(r.progress.at(-1), data.length, 'the receiver\'s last progress is the whole')
    }
    assert.ok(progress.length >= 3, `progress at the source (${progress.length})`)
    assert.is(progress.at(-1).acked, 2, 'both acked')
    assert.equal(a.stats().transfers, { outgoing: 0, incoming: 0, dropped: 0 })
  })
})

test('transfer – with maxMessageSize below a chunk (1 MiB), chunks are that size: every byte arrives', async () => {
  await withGroup(2, async ([a, b]) => {
    const data = randomBytes(3 << 20)
    const got = collect(b)
    await a.transfer(data)
    const r = await got
    assert.ok(r.bytes?.equals(data), `the receiver has all of it (${r.error ?? ''})`)
    assert.is(b.stats().reassemblyDropped, 0, 'no chunk too large for the receiver')
  }, { maxMessageSize: 100_000 })
})

test('transfer – a file to one member, written to a file there; a Readable to the others; `to` leaves the rest out', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'troupe-transfer-'))
  try {
    await withGroup(3, async ([a, b, c]) => {
      const data = randomBytes(5 << 20)
      const source = join(dir, 'source.bin')
      await writeFile(source, data)
      let cSaw = 0
      c.on('transfer', () => cSaw++)
      const written = new Promise((resolve, reject) => b.once('transfer', (t) => pipeline(t, createWriteStream(join(dir, 'copy.bin'))).then(() => resolve(t), reject)))
      const result = await a.transfer(source, { to: [b.me] })
      const t = await written
      assert.is(t.name, source, 'a file is named by its path')
      assert.is(t.size, data.length, 'and its size is said at the start')
      assert.equal(result.to, [b.me])
      assert.ok((await readFile(join(dir, 'copy.bin'))).equals(data))
      // A Readable (size unknown) from another member, to both others.
      const got = [collect(a), collect(b)]
      await c.transfer(createReadStream(source, { highWaterMark: 100_000 }), { name: 'stream' })
      for (const r of await Promise.all(got)) {
        assert.ok(r.bytes.equals(data))
        assert.is(r.t.size, null)
      }
      assert.is(cSaw, 0, 'c was not among the receivers of the first')
    })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('transfer – a slow reader at a member that reads its ring in place (only \'batch\' listeners): every byte, and the messages around it', async () => {
  await withGroup(2, async ([a, b]) => {
    let batched = 0
    b.on('batch', (batch) => {
      for (const m of batch) if (m.length === 3) batched++
    })
    const data = randomBytes(24 << 20)
    const got = new Promise((resolve, reject) => b.once('transfer', async (t) => {
      const parts = []
      try {
        // Slow: a pause after each read, so the stream's buffer fills and the member holds its ring mid-batch.
        for await (const chunk of t) {
          parts.push(chunk)
          await new Promise((r) => setTimeout(r, 50))
        }
        resolve(Buffer.concat(parts))
      } catch (err) {
        reject(err)
      }
    }))
    for (let i = 0; i < 1000; i++) a.send(new Uint8Array(3))
    const transfer = a.transfer(data)
    for (let i = 0; i < 1000; i++) a.send(new Uint8Array(3))
    await transfer
    assert.ok((await got).equals(data), 'the same bytes')
    await until(() => batched === 2000, { timeout: 10000, what: `all 2000 messages in batches (${batched})` })
  })
})

test('transfer – a Readable of blocks of every size (small ones gathered into chunks, large ones sent as they are): the same bytes; one that errors midway rejects with its error; one an abort stops is destroyed', async () => {
  await withGroup(2, async ([a, b]) => {
    // Sizes from 1 B to 3 MiB in a fixed mix: gathered, sent whole, split past a chunk.
    const sizes = [1, 1000, 70_000, 10, 65_535, 65_536, (1 << 20) - 16, 1 << 20, 3 << 20, 5, 200_000, 40_000, 40_000]
    const blocks = sizes.map((n) => randomBytes(n))
    let got = collect(b)
    await a.transfer(Readable.from(blocks, { objectMode: false }), { name: 'mixed' })
    const r = await got
    assert.ok(r.bytes.equals(Buffer.concat(blocks)), 'every byte, in order')

    got = collect(b)
    const failing = new Readable({ read() {} })
    failing.push(randomBytes(300_000))
    setImmediate(() => failing.destroy(new Error('the disk went away')))
    await throwsWith(() => a.transfer(failing, { name: 'failing' }), Error, /the disk went away/)
    assert.is((await got).error.code, 'ERR_TROUPE_TRANSFER_ABORTED', "the receiver's stream errors")

    got = collect(b)
    let pushed = 0
    const endless = new Readable({ read() { this.push(randomBytes(256 << 10)); pushed++ } })
    const controller = new AbortController()
    const transfer = a.transfer(endless, { signal: controller.signal })
    transfer.once('progress', () => controller.abort())
    await throwsWith(() => transfer, Error, /was aborted/, 'ABORT_ERR')
    await until(() => endless.destroyed, { timeout: 5000, what: 'the source stream destroyed' })
    assert.ok(pushed > 0)
    assert.ok((await got).error, "the receiver's stream errors")
  })
})

test('transfer – in a closed group, and over udp-unicast with Ethernet-sized datagrams: the same bytes', async () => {
  const data = randomBytes(2 << 20 | 777)
  await withGroup(3, async ([a, b, c]) => {
    const got = [collect(b), collect(c)]
    await a.transfer(data)
    for (const r of await Promise.all(got)) assert.ok(r.bytes.equals(data), 'sealed: the same bytes')
  }, { key: randomBytes(32) })
  const name = uniqueGroup('transfer-unicast')
  const base = defaultEndpoint(name).port
  const peers = [0, 1].map((i) => `127.0.0.1:${base + i}`)
  const groups = []
  try {
    for (const i of [0, 1]) groups.push(await Group.join(name, { name: `u${i}`, transport: 'udp-unicast', peers, port: base + i, datagramSize: 1472 }))
    await until(() => groups.every((g) => g.view.members.length === 2), { timeout: 10000, what: 'a view of 2' })
    const got = collect(groups[1])
    const result = await groups[0].transfer(data)
    assert.ok((await got).bytes.equals(data), 'unicast: the same bytes')
    assert.is(result.bytes, data.length)
  } finally {
    await Promise.all(groups.map((g) => g.leave().catch(() => {})))
  }
})

test('transfer – wrong arguments are TypeErrors/RangeErrors that name them', async () => {
  await withGroup(2, async ([a, b]) => {
    await throwsWith(() => a.transfer(42), TypeError, /the source of transfer\(\) must be a Uint8Array \(or Buffer\), a Readable stream or a file path/, 'ERR_INVALID_ARG_TYPE')
    await throwsWith(() => a.transfer(new Uint8Array(1), { too: [] }), TypeError, /Unknown option 'too' of transfer\(\) \(did you mean 'to'\?\)/, 'ERR_TROUPE_UNKNOWN_OPTION')
    await throwsWith(() => a.transfer(new Uint8Array(1), { to: 'b' }), TypeError, /option to of transfer\(\) must be an array of member ids/, 'ERR_INVALID_ARG_TYPE')
    await throwsWith(() => a.transfer(new Uint8Array(1), { to: ['nobody#0000000000000000'] }), RangeError, /option to of transfer\(\) names nobody#0000000000000000, which is not in the current view/, 'ERR_INVALID_ARG_VALUE')
    await throwsWith(() => a.transfer(new Uint8Array(1), { to: [a.me] }), RangeError, /names this member itself/, 'ERR_INVALID_ARG_VALUE')
    await throwsWith(() => a.transfer(new Uint8Array(1), { to: [b.me, b.me] }), RangeError, /names .* twice/, 'ERR_INVALID_ARG_VALUE')
    await throwsWith(() => a.transfer(new Uint8Array(1), { name: 7 }), TypeError, /option name of transfer\(\) must be a string/, 'ERR_INVALID_ARG_TYPE')
    await throwsWith(() => a.transfer(new Uint8Array(1), { signal: AbortSignal.abort() }), Error, /aborted/, 'ABORT_ERR')
    // A missing file fails the transfer (its promise), not the call.
    let receivedAny = false
    b.on('transfer', () => (receivedAny = true))
    await throwsWith(() => a.transfer(join(tmpdir(), `troupe-no-such-file-${process.pid}`)), Error, /ENOENT/)
    assert.not.ok(receivedAny, 'nothing began at the receiver')
  })
})

test('transfer – an abort at the source errors every receiver\'s stream and rejects with an AbortError', async () => {
  await withGroup(3, async ([a, b, c]) => {
    const got = [collect(b), collect(c)]
    const controller = new AbortController()
    const transfer = a.transfer(randomBytes(64 << 20), { signal: controller.signal })
    transfer.once('progress', () => controller.abort())
    await throwsWith(() => transfer, Error, /transfer 'transfer-\d+' was aborted/, 'ABORT_ERR')
    for (const r of await Promise.all(got)) {
      assert.ok(r.error, 'the stream errored')
      assert.is(r.error.code, 'ERR_TROUPE_TRANSFER_ABORTED')
      assert.match(r.error.message, /aborted by its source/)
    }
  })
})

test('transfer – a receiver that destroys its stream, and one with no listener, are named in the TransferError', async () => {
  await withGroup(3, async ([a, b, c]) => {
    b.once('transfer', (t) => t.destroy())
    // (c has no 'transfer' listener)
    const data = randomBytes(1 << 20)
    try {
      await a.transfer(data)
      assert.unreachable('the transfer should fail')
    } catch (err) {
      assert.instance(err, TransferError)
      assert.is(err.code, 'ERR_TROUPE_TRANSFER_INCOMPLETE')
      assert.equal(err.delivered, [])
      assert.equal(err.missing, [])
      const byMember = Object.fromEntries(err.failed.map((f) => [f.member, f.status]))
      assert.equal(byMember, { [b.me]: 'destroyed', [c.me]: 'unwanted' })
      assert.match(err.message, /reached 0 of 2 receivers/)
    }
    // The group goes on: the next transfer to b (listening now) succeeds.
    const got = collect(b)
    await a.transfer(data, { to: [b.me] })
    assert.ok((await got).bytes.equals(data))
  })
})

test('transfer – the room drops what does not parse and what is not for it, and counts the malformed', () => {
  const sent = []
  const started = []
  const room = new Transfers({
    me: () => 'me#1',
    view: () => ({ id: 1, members: ['me#1', 'src#2'], coordinator: 'me#1' }),
    send: (m) => (sent.push(m), true),
    maxRecord: () => 1000,
    maxMessage: () => 1 << 20,
    incoming: (t) => (started.push(t), true),
    resume: () => {},
  })
  room.onMessage('src#2', new Uint8Array([1])) // too short
  room.onMessage('src#2', new Uint8Array(HEADER).fill(9)) // not the transfer room
  const badKind = new Uint8Array(HEADER)
  writeHeader(badKind, 99, 1)
  room.onMessage('src#2', badKind)
  const badJson = new Uint8Array(HEADER + 3)
  writeHeader(badJson, Kind.begin, 1)
  badJson.set([123, 34, 120], HEADER)
  room.onMessage('src#2', badJson)
  assert.is(room.dropped, 4)
  // DATA and END of a transfer that never began here: ignored, nothing sent.
  const data = new Uint8Array(HEADER + 4)
  writeHeader(data, Kind.data, 7)
  room.onMessage('src#2', data)
  room.onMessage('src#2', encodeEnd(7, { bytes: 4, crc: 0 }))
  // A BEGIN that does not name us: not ours.
  room.onMessage('src#2', encodeBegin(8, { name: 'x', to: ['other#3'], size: null }))
  assert.is(started.length, 0)
  assert.is(sent.length, 0)
  assert.is(room.dropped, 4)
  // One that does, with a wrong checksum at the end: the stream errors and the ACK says so.
  room.onMessage('src#2', encodeBegin(9, { name: 'y', to: ['me#1'], size: 4 }))
  assert.is(started.length, 1)
  started[0].on('error', () => {})
  const piece = new Uint8Array(HEADER + 4)
  writeHeader(piece, Kind.data, 9)
  room.onMessage('src#2', piece)
  room.onMessage('src#2', encodeEnd(9, { bytes: 4, crc: 12345 }))
  assert.is(sent.length, 1)
  assert.match(new TextDecoder().decode(sent[0].subarray(HEADER)), /"status":"checksum"/)
  assert.ok(started[0].destroyed)
})

test('transfer – CRC-32C: the RFC 3720 values, the instructions (crc32 lanes; the carry-less fold from 256 B where the CPU has it) and the table agree on every length, and pieces chain', () => {
  assert.is(addon.crc32c(new Uint8Array(32)), 0x8a9136aa)
  assert.is(addon.crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43)
  assert.is(addon.crc32c(Buffer.from('123456789')), 0xe3069283)
  const seed = Number(process.env.SEED ?? Date.now() % 1e9)
  let x = seed || 1
  const random = (n) => Uint8Array.from({ length: n }, () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 16) & 0xff)
  for (const n of [0, 1, 7, 8, 9, 15, 16, 17, 255, 256, 257, 319, 320, 1000, 4095, 12287, 12288, 12289, 3 * 12288 + 5, 70001, (1 << 20) + 3]) {
    const bytes = random(n)
    const whole = addon.crc32c(bytes)
    assert.is(addon.crc32c(bytes, 0, true), whole, `length ${n}: the instructions and the table (SEED=${seed})`)
    let chained = 0
    for (let at = 0; at < n; at += 1000) chained = addon.crc32c(bytes.subarray(at, at + 1000), chained)
    assert.is(chained, whole, `length ${n}: in pieces of 1000 (SEED=${seed})`)
  }
  assert.throws(() => addon.crc32c('text'), /bytes must be a Uint8Array/)
})

test.run()
