// The closed groups' sealer (native/seal.cc) alone, with made-up time:
// authentication, the replay window against a model, and key rotation.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { addon } from '../dist/engine.js'
import { rng } from './helpers/wire.js'

const A = '00000000000000aa', B = '00000000000000bb'
/** A plain datagram: 24-byte header naming `sender` at offset 8, then a body. */
function plain(sender, body = 'hello') {
  const b = new Uint8Array(24 + body.length)
  new DataView(b.buffer).setBigUint64(8, BigInt(`0x${sender}`), true)
  b.set(new TextEncoder().encode(body), 24)
  return b
}

test('seal – a datagram opens with the key, once; altered, under another key, or naming another sender, it does not', () => {
  const key = randomBytes(32)
  const a = new addon.ManualSealer(key, A)
  const b = new addon.ManualSealer(key, B)
  const p = plain(A, 'a secret')
  const sealed = a.seal(p)
  assert.is(sealed.length, p.length + 40)
  assert.ok(!Buffer.from(sealed).includes(Buffer.from('a secret')), 'no plaintext on the wire')
  const r = b.open(sealed, 0)
  assert.ok(r.ok)
  assert.equal(r.plain, p)
  assert.is(b.open(sealed, 0).reason, 'replay')
  for (let i = 24; i < sealed.length; i++) {
    const bad = Uint8Array.from(a.seal(p))
    bad[i] ^= 1 << (i % 8)
    assert.is(b.open(bad, 0).reason, 'auth', `byte ${i} altered`)
  }
  assert.is(new addon.ManualSealer(randomBytes(32), B).open(a.seal(p), 0).reason, 'auth', 'another key')
  assert.is(b.open(a.seal(plain(B)), 0).reason, 'auth', 'a key holder naming another sender inside')
  assert.is(b.open(p, 0).reason, 'auth', 'a plain datagram')
  assert.is(b.open(new Uint8Array(10), 0).reason, 'auth', 'too short')
})

test('seal – the replay window: out of order within 1024 counters opens once, older is refused (seeded, against a model)', () => {
  const seed = Math.floor(Math.random() * 2 ** 31)
  const random = rng(seed)
  const key = randomBytes(32)
  const a = new addon.ManualSealer(key, A)
  const b = new addon.ManualSealer(key, B)
  const sealed = Array.from({ length: 5000 }, (_, i) => a.seal(plain(A, `m${i}`)))
  // Delivered out of order: each datagram is held back by up to 1500 places,
  // and one in ten is delivered again later.
  const arrivals = sealed.map((d, i) => ({ d, i, at: i + random() * 1500 }))
  for (const x of [...arrivals]) if (random() < 0.1) arrivals.push({ ...x, at: x.at + random() * 3000 })
  arrivals.sort((x, y) => x.at - y.at)
  let highest = 0
  const seen = new Set()
  for (const { d, i } of arrivals) {
    const counter = i + 1
    const fresh = counter > highest - 1024 && !seen.has(counter)
    const r = b.open(d, 0)
    assert.is(r.ok, fresh, `seed ${seed}: counter ${counter} (highest ${highest}) opens: ${fresh}`)
    if (!r.ok) assert.is(r.reason, 'replay', `seed ${seed}`)
    if (fresh) {
      seen.add(counter)
      highest = Math.max(highest, counter)
    }
  }
})

test('seal – rotation: the new key at once, the old one until the grace period ends', () => {
  const k1 = randomBytes(32), k2 = randomBytes(32)
  const a = new addon.ManualSealer(k1, A)
  const b = new addon.ManualSealer(k1, B)
  const old = a.seal(plain(A, 'old'))
  a.rekey(k2, 1e9, 0)
  const fresh = a.seal(plain(A, 'new'))
  assert.is(b.open(fresh, 0).reason, 'auth', 'b does not have the new key yet')
  b.rekey(k2, 1e9, 0)
  assert.ok(b.open(fresh, 10).ok, 'now it does')
  assert.ok(b.open(old, 20).ok, 'and still takes the old key within the grace period')
  const late = new addon.ManualSealer(k1, '00000000000000cc').seal(plain('00000000000000cc', 'late'))
  assert.is(b.open(late, 2e9).reason, 'auth', 'after the grace period the old key is gone')
})

test.run()
