// Closed groups (option key): what an outsider on the same address and port
// sees and can do, replays, and key rotation while the group works.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import dgram from 'node:dgram'
import { randomBytes } from 'node:crypto'
import { Group } from '../dist/index.js'
import { defaultEndpoint } from '../dist/options.js'
import { addon } from '../dist/engine.js'
import { data } from './helpers/wire.js'
import { until, uniqueGroup } from './helpers/wait.js'
import { throwsWith } from './helpers/assert.js'

const MARK = 'plaintext-marker-'
const text = new TextDecoder()

/** A raw socket on the group's address and port: hears everything, can send anything. */
async function eavesdropper(name) {
  const { address, port } = defaultEndpoint(name)
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: 16 << 20 })
  const heard = []
  socket.on('message', (m) => heard.push(Uint8Array.from(m)))
  await new Promise((resolve) => socket.bind(port, resolve))
  socket.addMembership(address, '127.0.0.1')
  socket.setMulticastInterface('127.0.0.1')
  const send = (bytes) => new Promise((resolve) => socket.send(bytes, port, address, resolve))
  return { heard, send, close: () => socket.close() }
}

/** Members that record what they deliver, left in every path. */
async function withGroup(name, specs, body) {
  const members = []
  try {
    for (const [member, options] of specs) {
      const g = await Group.join(name, { name: member, suspectTimeout: 1000, ...options })
      g.got = []
      g.on('message', (m) => g.got.push(text.decode(m.data)))
      members.push(g)
    }
    await body(members)
  } finally {
    await Promise.all(members.map((g) => g.leave(200).catch(() => {})))
  }
}

async function sendAll(g, prefix, count, size = 0) {
  for (let i = 0; i < count; i++) {
    // false: taken, but the window is full (the Writable convention): wait for 'drain'.
    if (!g.send(new TextEncoder().encode(`${prefix}${i}`.padEnd(size, '.')))) await new Promise((r) => g.once('drain', r))
  }
}

test('options – key must be a Uint8Array of 32 bytes; rotateKey checks its arguments', async () => {
  const g = uniqueGroup('keyopts')
  await throwsWith(() => Group.join(g, { key: 'secret' }), TypeError, /option key must be a Uint8Array/)
  await throwsWith(() => Group.join(g, { key: new Uint8Array(16) }), RangeError, /option key must be 32 bytes, got 16/)
  const open = await Group.join(g, { name: 'open' })
  try {
    assert.throws(() => open.rotateKey(randomBytes(32)), /needs a closed group/)
  } finally {
    await open.leave()
  }
  const closed = await Group.join(uniqueGroup('keyopts'), { name: 'closed', key: randomBytes(32) })
  try {
    assert.throws(() => closed.rotateKey(new Uint8Array(31)), (e) => e instanceof RangeError && /32 bytes/.test(e.message))
    assert.throws(() => closed.rotateKey(randomBytes(32), { graceMs: -1 }), (e) => e instanceof RangeError && /graceMs/.test(e.message))
  } finally {
    await closed.leave()
  }
})

test('closed group – an outsider reads no plaintext, and neither a wrong key, no key nor forged datagrams get in', async () => {
  const name = uniqueGroup('closed')
  const key = randomBytes(32)
  const spy = await eavesdropper(name)
  try {
    await withGroup(name, [['a', { key }], ['b', { key }]], async ([a, b]) => {
      await until(() => a.view.members.length === 2 && b.view.members.length === 2, { what: 'a and b in one view' })
      const insiders = [...a.view.members]
      await sendAll(a, MARK, 2000)
      await until(() => b.got.length === 2000, { what: 'b delivers a\'s 2000 messages', detail: () => `${b.got.length}` })
      assert.equal(b.got, Array.from({ length: 2000 }, (_, i) => `${MARK}${i}`))
      // The outsider heard the traffic, and not one byte of it in the clear.
      await until(() => spy.heard.length > 10, { what: 'the eavesdropper hears datagrams' })
      const marker = new TextEncoder().encode(MARK)
      const contains = (d) => Buffer.from(d).includes(Buffer.from(marker))
      assert.is(spy.heard.filter(contains).length, 0, 'no datagram carries the plaintext')
      assert.ok(spy.heard.every((d) => d[0] === 0x54 && d[1] === 0x53), 'every datagram is sealed ("TS")')

      // A forged plaintext DATA datagram that claims to be a's next message.
      const aId = BigInt(`0x${a.me.split('#')[1]}`)
      const forged = data(2001, [new TextEncoder().encode('forged')], { group: addon.groupHash(name), sender: aId })
      const sealBefore = b.stats().counters.rejectSeal
      for (let i = 0; i < 50; i++) await spy.send(forged)
      // A sealed datagram with one bit flipped (a tampered ciphertext).
      const sealed = spy.heard.find((d) => d.length > 200)
      for (let i = 0; i < 50; i++) {
        const bad = Uint8Array.from(sealed)
        bad[40 + (i % (bad.length - 40))] ^= 1 << (i % 8)
        bad[23] ^= 0x40 // a counter never used, so that it is not refused as a replay first
        await spy.send(bad)
      }
      await until(() => b.stats().counters.rejectSeal >= sealBefore + 100, { what: 'b drops the forged and tampered datagrams', detail: () => JSON.stringify(b.stats().counters.rejectSeal - sealBefore) })

      // A member with the wrong key, and one with none, on the same address and port.
      const outsiders = [
        await Group.join(name, { name: 'wrong', key: randomBytes(32), suspectTimeout: 1000, discovery: 300 }),
        await Group.join(name, { name: 'nokey', suspectTimeout: 1000, discovery: 300 }),
      ]
      try {
        const heardByOutsiders = []
        for (const o of outsiders) o.on('message', (m) => heardByOutsiders.push(text.decode(m.data)))
        for (const o of outsiders) o.send(new TextEncoder().encode('from-outside'))
        await sendAll(a, 'after-', 500)
        await until(() => b.got.length === 2500, { what: 'b delivers a\'s next 500', detail: () => `${b.got.length}` })
        await until(() => outsiders.every((o) => heardByOutsiders.filter((m) => m === 'from-outside').length >= 1), { what: 'the outsiders deliver their own message (they work, alone)' })
        assert.equal(a.view.members, insiders, 'the group\'s view never took an outsider in')
        assert.equal(b.view.members, insiders)
        for (const o of outsiders) assert.ok(!o.view.members.some((m) => insiders.includes(m)), `${o.me} never joined the insiders`)
        assert.ok(!heardByOutsiders.some((m) => m.startsWith(MARK) || m.startsWith('after-')), 'no outsider delivered an insider message')
        assert.ok(!a.got.includes('from-outside') && !b.got.includes('from-outside') && !b.got.includes('forged'))
        assert.ok(outsiders[1].stats().counters.rejectMagic > 0, 'the keyless member counts the sealed datagrams it cannot use')
      } finally {
        await Promise.all(outsiders.map((o) => o.leave(200)))
      }
    })
  } finally {
    spy.close()
  }
})

test('closed group – replayed datagrams are dropped and counted; nothing is delivered twice', async () => {
  const name = uniqueGroup('replay')
  const key = randomBytes(32)
  const spy = await eavesdropper(name)
  try {
    // 8 KiB datagrams: 1000 messages of 300 B make enough of them to replay.
    await withGroup(name, [['a', { key, datagramSize: 8192 }], ['b', { key, datagramSize: 8192 }]], async ([a, b]) => {
      await until(() => a.view.members.length === 2 && b.view.members.length === 2, { what: 'one view' })
      // Only what b has surely received once: a datagram sealed before b
      // was there is new to b (within the replay window) and is let in once.
      const from = spy.heard.length
      await sendAll(a, 'm', 1000, 300)
      await until(() => b.got.length === 1000, { what: 'b delivers 1000' })
      const captured = spy.heard.slice(from)
      assert.ok(captured.length >= 30, `captured ${captured.length}`)
      const before = b.stats().counters.rejectReplay
      for (const d of captured) await spy.send(d)
      await until(() => b.stats().counters.rejectReplay >= before + captured.length, {
        what: 'every replayed datagram counted as a replay',
        detail: () => `${b.stats().counters.rejectReplay - before} of ${captured.length}`,
      })
      await sendAll(a, 'n', 10)
      await until(() => b.got.length === 1010, { what: 'b goes on delivering' })
      assert.is(new Set(b.got).size, 1010, 'nothing delivered twice')
    })
  } finally {
    spy.close()
  }
})

test('closed group – the key rotates while messages flow; after the grace period the old key is refused', async () => {
  const name = uniqueGroup('rotate')
  const oldKey = randomBytes(32)
  const newKey = randomBytes(32)
  const spy = await eavesdropper(name)
  try {
    await withGroup(name, [['a', { key: oldKey }], ['b', { key: oldKey }], ['c', { key: oldKey }]], async ([a, b, c]) => {
      await until(() => [a, b, c].every((g) => g.view.members.length === 3), { what: 'one view of 3' })
      const oldTraffic = spy.heard.length
      const flowing = sendAll(a, 'r', 3000)
      // b rotates first; a while later the others: b's datagrams are
      // unreadable to them until they have the new key, and are repaired.
      await until(() => b.got.length >= 500, { what: 'some traffic before the rotation' })
      b.rotateKey(newKey, { graceMs: 800 })
      b.send(new TextEncoder().encode('b-new-key'))
      await until(() => b.got.length >= 1500, { what: 'traffic after b rotated' })
      a.rotateKey(newKey, { graceMs: 800 })
      c.rotateKey(newKey, { graceMs: 800 })
      await flowing
      for (const g of [a, b, c]) await until(() => g.got.length === 3001, { what: `${g.me} delivers everything`, detail: () => `${g.got.length}` })
      for (const g of [a, b, c]) assert.equal(g.got.filter((m) => m.startsWith('r')), Array.from({ length: 3000 }, (_, i) => `r${i}`))
      assert.ok(a.got.includes('b-new-key') && c.got.includes('b-new-key'))
      assert.equal(a.view.members.length, 3, 'nobody was cut off by the rotation')

      // Once the grace period has passed, datagrams sealed with the old key
      // are refused as unsealed (not as replays: the key itself is gone).
      const oldDatagram = spy.heard[oldTraffic > 0 ? oldTraffic - 1 : 0]
      const graceEnds = Date.now() + 800
      await until(() => Date.now() > graceEnds + 50, { what: 'the grace period to pass', timeout: 3000 })
      const before = c.stats().counters.rejectSeal
      await spy.send(oldDatagram)
      await until(() => c.stats().counters.rejectSeal > before, { what: 'c refuses the old key' })
    })
  } finally {
    spy.close()
  }
})

test.run()
