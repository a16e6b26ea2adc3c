// One sender's stream (ts/node/stream.ts) alone: what a flush's cut needs of
// it that this member does not hold, asked of whom, in ranges.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Stream } from '../dist/node/stream.js'

const held = (s, ...seqs) => {
  for (const seq of seqs) s.held.set(seq, { seq, view: 1, order: 1, frag: 0, data: new Uint8Array(0) })
}

test('stream – what the cut needs and we miss, in runs, asked of the holder the cut names', () => {
  const s = new Stream('a#1', '0000000000000001', 0)
  s.next = 5 // 1..4 delivered
  held(s, 7, 8, 12)
  const plan = s.missing({ upTo: 14, holder: 'b#2', extras: [] }, 'me#9', false)
  assert.equal([...plan], [['b#2', [5, 6, 9, 11, 13, 14]]])
})

test('stream – extras come from their own holders; nothing is asked of ourselves, nor of a sender that repairs its own stream', () => {
  const s = new Stream('a#1', '0000000000000001', 0)
  s.next = 3
  s.early.add(20)
  const cut = { upTo: 4, holder: 'a#1', extras: [[20, 'c#3'], [21, 'c#3'], [22, 'me#9'], [30, 'd#4']] }
  assert.equal([...s.missing(cut, 'me#9', false)], [['a#1', [3, 4]], ['c#3', [21, 21]], ['d#4', [30, 30]]])
  assert.equal([...s.missing(cut, 'me#9', true)], [['c#3', [21, 21]], ['d#4', [30, 30]]], 'the sender is not asked while it repairs')
  s.next = 5
  assert.equal([...s.missing({ upTo: 4, holder: 'me#9', extras: [] }, 'me#9', false)], [], 'all held: nothing to ask')
})

test('stream – a holder is asked at most 1,024 ranges at once (the rest next time)', () => {
  const s = new Stream('a#1', '0000000000000001', 0)
  for (let q = 2; q <= 5000; q += 2) held(s, q) // every other seq held: 2,500 gaps
  const ranges = s.missing({ upTo: 5000, holder: 'b#2', extras: [] }, 'me#9', false).get('b#2')
  assert.is(ranges.length, 2 * 1024)
  assert.equal(ranges.slice(0, 4), [1, 1, 3, 3])
})

test.run()
