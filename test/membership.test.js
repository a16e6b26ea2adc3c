// The membership protocol's messages (ts/membership/messages.ts) and what a
// live group does with hostile CONTROL datagrams: well-formed messages
// round-trip; malformed, truncated or forged ones are dropped and counted,
// never acted on, never a crash.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import dgram from 'node:dgram'
import { addon } from '../dist/engine.js'
import { Group } from '../dist/index.js'
import { decodeControl, encodeControl } from '../dist/membership/messages.js'
import { header, rng, mutate } from './helpers/wire.js'
import { until, uniqueGroup } from './helpers/wait.js'

const A = 'a#00000000000000aa', B = 'b#00000000000000bb'
const ballot = { n: 3, coord: A }
const install = { kind: 'install', ballot, view: { id: 4, members: [A, B], founder: A }, starts: { [A]: 10 }, sides: [], provider: A, merged: [] }
const samples = [
  { kind: 'announce', view: { id: 4, members: [A, B], founder: A }, partitions: false },
  { kind: 'join', member: B },
  { kind: 'leave', member: B },
  { kind: 'suspect', members: [B] },
  { kind: 'prepare', ballot, from: { id: 3, founder: A }, merging: [{ id: 2, founder: `${B}@2` }], members: [A, B], excluded: [] },
  { kind: 'report', ballot, view: 3, founder: A, members: [A, B], seen: 3, sent: 12, held: { [A]: [9, 11], [B]: [4] }, ready: true, last: install },
  { kind: 'cut', ballot, view: 4, cut: { [A]: { upTo: 12, holder: A, extras: [[14, B]] } } },
  { kind: 'done', ballot },
  install,
  { kind: 'installed', ballot },
  { kind: 'nack', ballot },
  { kind: 'behind', view: 2 },
  { kind: 'stateRequest', view: 4, offset: 8192, length: 65536 },
]

test('messages – every kind round-trips through its bytes', () => {
  for (const m of samples) assert.equal(decodeControl(encodeControl(m)), m, m.kind)
  const chunk = decodeControl(encodeControl({ kind: 'stateChunk', view: 4, offset: 16, total: 20, bytes: Uint8Array.of(1, 2, 3, 4) }))
  assert.equal([...chunk.bytes], [1, 2, 3, 4])
  assert.is(chunk.total, 20)
})

test('messages – malformed payloads decode to null (never throw): wrong fields, bad ids, mutations', () => {
  const bad = [
    new Uint8Array(0),
    Uint8Array.of(99, 123, 125),
    Uint8Array.of(2, 0xff, 0xfe),
    encodeControl({ kind: 'join', member: 'no-hash-here' }),
    encodeControl({ kind: 'prepare', ballot: { n: -1, coord: A }, from: { id: 1, founder: A }, merging: [], members: [], excluded: [] }),
    encodeControl({ kind: 'prepare', ballot, from: { id: 1, founder: 'nobody' }, merging: [], members: [], excluded: [] }),
    encodeControl({ kind: 'cut', ballot, view: 1, cut: { [A]: { upTo: 1.5, holder: A, extras: [] } } }),
    encodeControl({ kind: 'stateChunk', view: 1, offset: 10, total: 4, bytes: new Uint8Array(8) }),
  ]
  for (const b of bad) assert.is(decodeControl(b), null)
  const seed = Number(process.env.SEED ?? Date.now() % 1e9)
  const random = rng(seed)
  let accepted = 0
  try {
    for (let i = 0; i < 50000; i++) {
      const m = mutate(encodeControl(samples[i % samples.length]), random)
      const c = decodeControl(m)
      if (c !== null) {
        accepted++
        assert.ok(typeof c.kind === 'string')
      }
    }
  } catch (e) {
    console.error(`control fuzz failed with SEED=${seed}`)
    throw e
  }
  assert.ok(accepted < 50000)
})

test('hostile CONTROL datagrams at a live group: dropped and counted, the group goes on unchanged', async () => {
  const name = uniqueGroup('hostile')
  const port = 20000 + Math.floor(Math.random() * 20000)
  const address = '239.255.77.' + (1 + Math.floor(Math.random() * 250))
  const a = await Group.join(name, { name: 'a', address, port })
  const b = await Group.join(name, { name: 'b', address, port })
  const socket = dgram.createSocket('udp4')
  try {
    await until(() => a.view.members.length === 2 && b.view.members.length === 2, { what: 'a view of 2' })
    const viewBefore = a.view
    await new Promise((r) => socket.bind(0, '127.0.0.1', r))
    socket.setMulticastInterface('127.0.0.1')
    socket.setMulticastLoopback(true)
    const group = addon.groupHash(name)
    const forged = (payload, sender) => {
      const { b: d } = header(5, { group, sender }, 24 + payload.length)
      d.set(payload, 24)
      return d
    }
    const random = rng(42)
    const datagrams = []
    const aHex = a.me.slice(-16)
    for (let i = 0; i < 2000; i++) {
      const kind = i % 4
      if (kind === 0) datagrams.push(forged(mutate(encodeControl(samples[i % samples.length]), random), 0x4000n + BigInt(i)))
      // An install that leaves a out, "from" an unknown member.
      else if (kind === 1) datagrams.push(forged(encodeControl({ ...install, view: { id: 99, members: [B], founder: B } }), 0x5000n + BigInt(i)))
      // A join from someone the reliability core never heard: never admitted.
      else if (kind === 2) datagrams.push(forged(encodeControl({ kind: 'join', member: `x#${(0x6000 + i).toString(16).padStart(16, '0')}` }), BigInt(0x6000 + i)))
      // Claiming to be a: the payload says so, the sender id does not match what a's core knows of a's name.
      else datagrams.push(forged(encodeControl({ kind: 'prepare', ballot: { n: 1e6, coord: `a#${aHex}` }, from: { id: viewBefore.id, founder: a.me }, merging: [], members: [], excluded: [a.me] }), 0x7000n + BigInt(i)))
    }
    for (const d of datagrams) await new Promise((r) => socket.send(d, port, address, r))
    await until(() => a.stats().controlRejected + b.stats().controlRejected >= 1000, { what: 'the forged datagrams counted' })
    // The group works as before: same view, messages flow.
    const got = []
    b.on('message', (m) => got.push(m.data[0]))
    for (let i = 0; i < 100; i++) a.send(Uint8Array.of(i))
    await until(() => got.length === 100, { what: 'messages after the spray' })
    assert.equal(a.view, viewBefore)
    assert.equal(b.view.members, viewBefore.members)
    assert.ok(!a.view.members.some((m) => m.startsWith('x#')), 'no forged joiner in the view')
  } finally {
    socket.close()
    await a.leave()
    await b.leave()
  }
})

test.run()
