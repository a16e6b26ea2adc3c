// Membership messages larger than a datagram (ts/membership/pieces.ts): cut
// into pieces, put together in any order, duplicates ignored; a message
// missing a piece is never handed on; what is kept is bounded; malformed
// pieces are dropped and counted. And a simulated group of 16 members at
// 1,024-byte datagrams, whose REPORTs no longer fit one.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { cut, Pieces, PIECE } from '../dist/membership/pieces.js'
import { runScale, runSeed } from '../dist/sim/scenario.js'

test('pieces – cut and put together in any order, duplicates ignored, per sender', () => {
  const message = randomBytes(10_000)
  const pieces = cut(message, 1000, 7)
  assert.is(pieces.length, Math.ceil(10_000 / 991))
  assert.ok(pieces.every((p) => p.length <= 1000 && p[0] === PIECE))
  const p = new Pieces()
  const order = pieces.map((_, i) => i).reverse()
  let whole = null
  for (const i of order) {
    assert.is(whole, null, 'nothing before the last piece')
    whole = p.add('a', pieces[i], 0)
    if (i === order[2]) assert.is(p.add('a', pieces[i], 0), null, 'a duplicate is ignored')
  }
  assert.equal(Buffer.from(whole), message)
  assert.is(p.size, 0)
  // The same numbers from another sender are another message.
  const other = cut(randomBytes(3000), 1000, 7)
  p.add('b', other[0], 0)
  assert.is(p.add('a', pieces[0], 0), null)
  assert.is(p.size, 2)
})

test('pieces – a message missing a piece is never handed on, and is given up after a while; bounds; malformed pieces counted', () => {
  const p = new Pieces()
  const pieces = cut(randomBytes(5000), 1000, 1)
  for (const piece of pieces.slice(1)) assert.is(p.add('a', piece, 0), null)
  assert.is(p.size, 1)
  // Later messages of the sender: at most 8 being put together; the oldest goes.
  for (let id = 2; id < 12; id++) p.add('a', cut(randomBytes(3000), 1000, id)[0], 10)
  assert.is(p.size, 8)
  assert.ok(p.dropped >= pieces.length - 1, 'what was given up is counted')
  // Expired: a new message after 5 s drops the stale ones.
  p.add('b', cut(randomBytes(3000), 1000, 1)[0], 6000)
  assert.is(p.size, 1)
  const before = p.dropped
  assert.is(p.add('a', Uint8Array.of(PIECE, 1, 2), 0), null, 'too short')
  assert.is(p.add('a', Uint8Array.of(PIECE, 0, 0, 0, 0, 5, 0, 3, 0, 9), 0), null, 'index beyond count')
  assert.is(p.add('a', Uint8Array.of(PIECE, 0, 0, 0, 0, 0, 0, 1, 0, 9), 0), null, 'a message of one piece is not sent in pieces')
  assert.is(p.dropped, before + 3)
  assert.throws(() => cut(new Uint8Array(2_000_000), 1000, 1), /does not fit/)
})

test('pieces – 16 simulated members at 1,024-byte datagrams (REPORTs of ~1.5 KB) hold every invariant, through the faults of a seed', () => {
  const r = runSeed(5, { members: 16 })
  assert.equal(r.errors, [], r.summary)
  assert.ok(r.views >= 2, `${r.views} views`)
})

test('scale – view changes in the simulator at 4 and 24 members (24 at 1,024-byte datagrams: its membership messages in pieces): formed, a crash and a leave each end in a view without the member; every invariant', () => {
  for (const n of [4, 24]) {
    const r = runScale(n)
    assert.equal(r.errors, [], `${n} members`)
    assert.ok(r.formMs > 0 && r.crashMs >= 300 && r.leaveMs > 0, JSON.stringify(r))
  }
})

test.run()
