// The member's receive path and its side of a flush, alone (ts/node/receiver.ts,
// ts/node/cut.ts): which seqs go on now and which wait (gaps, views not yet
// installed, the delivery phase, the state), what a flush's freeze reports,
// delivery exactly up to a cut, fetching what the cut needs, and a barrier
// whose RELEASE never came.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Receiver } from '../dist/node/receiver.js'
import { FlushCut } from '../dist/node/cut.js'

const ME = 'me#00000000000000ff'
const A = 'a#0000000000000001'
const B = 'b#0000000000000002'
const hexOf = (id) => id.slice(-16)
const FIFO = 1
const UNORDERED = 0

function setup({ flushing = false, proposed = [], futureBytes = 1 << 20 } = {}) {
  const out = [] // what went on to the hold-back, as 'a:3'
  const calls = [] // what was asked of the core and of the rest of the member
  const holdBack = {
    onMessage: (s, order, first, seq, data) => (out.push(first === seq ? `${s.id[0]}:${seq}` : `${s.id[0]}:${first}..${seq}(${data.length})`), true),
    onRecord: () => true,
    onStable: () => {},
    deliverBarrier: (streams) => out.push(`barrier(${streams.map((s) => s.id[0]).join('')})`),
    drain: () => {},
  }
  const port = {
    exclude: (hex, on) => calls.push(`exclude ${hex.slice(-1)} ${on}`),
    forget: (hex) => calls.push(`forget ${hex.slice(-1)}`),
    advance: () => {},
    fetch: (sender, holder, ranges) => calls.push(`fetch ${sender.slice(-1)} from ${holder.slice(-1)} ${ranges.join(',')}`),
    resume: () => calls.push('resume'),
  }
  const host = { flushing: () => flushing, proposed: (id) => proposed.includes(id), overflow: (why) => calls.push(`overflow: ${why}`) }
  const config = { id: ME, receiveOwn: true, futureBytes, maxMessageSize: 1 << 20, retry: 20 }
  const r = new Receiver(port, host, holdBack, config)
  let now = 0
  const cut = new FlushCut(r, holdBack, port, config, () => now)
  r.onPeerUp(0, hexOf(ME), 'me')
  r.onPeerUp(1, hexOf(A), 'a')
  r.onPeerUp(2, hexOf(B), 'b')
  const msg = (peer, seq, { view = 1, order = FIFO } = {}) => r.onMessage(peer, seq, view, order, 0, new Uint8Array(4), 0, 4)
  return { r, cut, out, calls, msg, tick: (ms) => (now += ms) }
}

const view1 = { id: 1, members: [ME, A, B], coordinator: ME }
const install1 = { starts: { [ME]: 1, [A]: 1, [B]: 1 }, sides: [], provider: '' }

test('receiver – in order at once; a gap holds the rest until it is filled; an unordered message goes ahead of the gap, once', () => {
  const { r, out, msg } = setup()
  r.install(install1, view1, false)
  msg(1, 1)
  msg(1, 3)
  msg(1, 4, { order: UNORDERED })
  assert.equal(out, ['a:1', 'a:4'], 'seq 3 (fifo) waits for 2; the unordered 4 goes ahead')
  msg(1, 2)
  assert.equal(out, ['a:1', 'a:4', 'a:2', 'a:3'])
  msg(1, 3)
  msg(1, 4, { order: UNORDERED })
  assert.is(out.length, 4, 'duplicates are not delivered again')
})

test('receiver – a message of a view not yet installed waits for it; a non-member\'s is dropped and counted', () => {
  const { r, out, msg } = setup()
  r.install(install1, view1, false)
  msg(1, 1, { view: 2 })
  assert.equal(out, [])
  r.install({ starts: { [ME]: 1, [A]: 1, [B]: 1 }, sides: [], provider: '' }, { id: 2, members: [ME, A, B], coordinator: ME }, false)
  r.releaseAll()
  assert.equal(out, ['a:1'])
  r.install({ starts: { [ME]: 1, [A]: 2 }, sides: [], provider: '' }, { id: 3, members: [ME, A], coordinator: ME }, false)
  msg(2, 1, { view: 3 })
  msg(7, 1, { view: 3 })
  assert.equal(out, ['a:1'])
  assert.is(r.dropped, 2, 'b left the view (its stream was dropped) and peer 7 was never heard of')
})

test('receiver – a joiner holds what arrives before its first view, up to futureBytes, then starts over', () => {
  const { out, calls, msg } = setup({ flushing: true, futureBytes: 50 })
  msg(1, 1)
  msg(1, 2)
  assert.equal(out, [])
  assert.equal(calls.filter((c) => c.startsWith('overflow')), [])
  msg(1, 3)
  assert.equal(calls.filter((c) => c.startsWith('overflow')), ['overflow: too much arrived before our first view'])
})

test('receiver – nothing is delivered while the state is pulled; then all of it, in order', () => {
  const { r, out, msg } = setup()
  r.install(install1, view1, false)
  r.awaitingState = true
  msg(1, 1)
  msg(1, 2)
  assert.equal(out, [])
  r.awaitingState = false
  r.releaseAll()
  assert.equal(out, ['a:1', 'a:2'])
})

test('receiver – messages the engine skipped (no subscription wants them) move the stream on; in a flush each takes its place, with no bytes', () => {
  const { r, cut, out, msg } = setup()
  r.install(install1, view1, false)
  msg(1, 1)
  r.onSkipped(1, 1, 2, 40)
  msg(1, 41)
  assert.equal(out, ['a:1', 'a:41'], 'the common case: 2..40 only moved the stream on')
  // A gap before the run: it waits, and the run after it, each seq in its place.
  r.onSkipped(1, 1, 43, 44)
  msg(1, 45)
  assert.equal(out.slice(2), [], '43..45 wait for 42')
  msg(1, 42)
  assert.equal(out.slice(2), ['a:42', 'a:43', 'a:44', 'a:45'])
  // Frozen by a flush: what the engine skipped counts as held, up to the cut.
  cut.freeze(view1.members, 1)
  r.onSkipped(1, 1, 46, 48)
  assert.equal(cut.freeze(view1.members, 1)[A], [48], 'a: held without a gap up to 48')
  cut.apply(view1.members, { [A]: { upTo: 47, holder: A, extras: [] }, [B]: { upTo: 0, holder: B, extras: [] } }, false)
  assert.equal(out.slice(6), ['a:46', 'a:47'], 'up to the cut, 48 beyond it')
  // Another sender's, or an unknown peer's: counted.
  const dropped = r.dropped
  r.onSkipped(9, 1, 1, 3)
  assert.is(r.dropped, dropped + 3)
})

test('receiver – a message the engine put together stands for all its seqs: at once in the common case; behind a gap, in a flush or for a later view, each seq in its place', () => {
  const { r, cut, out, msg } = setup()
  r.install(install1, view1, false)
  const whole = (first, last, view = 1) => r.onAssembled(1, first, last, view, FIFO, new Uint8Array(100 * (last - first + 1)))
  msg(1, 1)
  whole(2, 5)
  msg(1, 6)
  assert.equal(out, ['a:1', 'a:2..5(400)', 'a:6'], 'the common case: one message for seqs 2..5, then 6')
  // Behind a gap: it waits, whole, for 7.
  whole(8, 9)
  msg(1, 10)
  assert.equal(out.slice(3), [], '8..10 wait for 7')
  msg(1, 7)
  assert.equal(out.slice(3), ['a:7', 'a:8..9(200)', 'a:10'])
  // Sent in a view not installed yet: held until it is.
  whole(11, 13, 2)
  assert.equal(out.slice(6), [])
  r.install({ starts: { [ME]: 1, [A]: 11, [B]: 1 }, sides: [], provider: '' }, { id: 2, members: [ME, A, B], coordinator: ME }, false)
  r.releaseAll()
  assert.equal(out.slice(6), ['a:11..13(300)'])
  // In a flush its seqs count as held: a cut that ends before its last leaves it out.
  cut.freeze(view1.members, 2)
  whole(14, 16, 2)
  assert.equal(cut.freeze(view1.members, 2)[A], [16], 'a: held without a gap up to 16')
  cut.apply(view1.members, { [A]: { upTo: 15, holder: A, extras: [] }, [B]: { upTo: 0, holder: B, extras: [] } }, false)
  assert.equal(out.slice(7), [], 'the cut holds 14 and 15 of it, not its last: not delivered')
  // From a peer no one knows: counted.
  const dropped = r.dropped
  r.onAssembled(9, 1, 3, 2, FIFO, new Uint8Array(1))
  assert.is(r.dropped, dropped + 1)
})

test('flush – freeze reports the run held without a gap and what is held beyond; a cut delivers exactly up to itself and fetches the rest', () => {
  const { r, cut, out, calls, msg, tick } = setup()
  r.install(install1, view1, false)
  msg(1, 1)
  msg(1, 5, { order: UNORDERED }) // ahead of the gap: delivered early
  const held = cut.freeze(view1.members, 1)
  assert.is(r.phase, 'frozen')
  msg(1, 2)
  msg(1, 3)
  msg(2, 1)
  assert.equal(out, ['a:1', 'a:5'], 'frozen: nothing new goes on')
  assert.equal(held[A], [1, 5])
  assert.equal(cut.freeze(view1.members, 1)[A], [3, 5], 'a: 1..3 without a gap (2 and 3 held, not delivered), 5 beyond')
  cut.apply(view1.members, { [A]: { upTo: 2, holder: A, extras: [[5, A]] }, [B]: { upTo: 3, holder: B, extras: [] } }, false)
  assert.is(r.phase, 'cut')
  assert.equal(out, ['a:1', 'a:5', 'a:2', 'b:1'], 'up to the cut: a 2, b 1; a 3 stays beyond it')
  assert.equal(calls.filter((c) => c.startsWith('fetch')), [], 'live senders repair their own streams first')
  assert.not.ok(cut.reached(view1.members), 'b 2..3 missing')
  tick(100)
  cut.fetchMissing(view1.members)
  assert.equal(calls.filter((c) => c.startsWith('fetch')), ['fetch 2 from 2 2,3'], 'b stalled: asked directly')
  msg(2, 2)
  msg(2, 3)
  assert.ok(cut.reached(view1.members))
  assert.equal(out.slice(4), ['b:2', 'b:3'])
})

test('flush – a barrier\'s RELEASE delivers the barrier, opens delivery and resumes our sending', () => {
  const { r, cut, out, calls, msg } = setup()
  r.install(install1, view1, false)
  cut.freeze(view1.members, 1)
  msg(1, 1)
  cut.apply(view1.members, { [A]: { upTo: 1, holder: A, extras: [] } }, true)
  assert.is(r.phase, 'barrierCut')
  cut.release(false)
  assert.is(r.phase, 'open')
  assert.equal(out, ['a:1', 'barrier(abm)'])
  assert.ok(calls.includes('resume'))
  msg(1, 2)
  assert.equal(out.at(-1), 'a:2', 'open again: beyond the cut goes on')
})

test('flush – a barrier whose RELEASE never came is delivered at its cut before what the next cut adds', () => {
  const { r, cut, out, msg } = setup()
  r.install(install1, view1, false)
  cut.freeze(view1.members, 1)
  cut.apply(view1.members, { [A]: { upTo: 1, holder: A, extras: [] } }, true)
  // The barrier's coordinator dies; the next flush's cut holds a message sent after the barrier.
  cut.freeze(view1.members, 1)
  cut.apply(view1.members, { [A]: { upTo: 2, holder: A, extras: [] } }, false)
  msg(1, 2)
  assert.equal(out, [], 'a 2 is beyond the barrier: it waits for the barrier, which waits for a 1')
  msg(1, 1)
  assert.equal(out, ['a:1'])
  assert.ok(cut.reached(view1.members), 'the look at the cut settles the barrier (the member looks after each batch)')
  assert.equal(out, ['a:1', 'barrier(abm)', 'a:2'])
})

test('flush – a barrier cut that nothing after it follows is not delivered as a barrier (its sync messages wait for the view\'s end)', () => {
  const { r, cut, out, msg } = setup()
  r.install(install1, view1, false)
  cut.freeze(view1.members, 1)
  cut.apply(view1.members, { [A]: { upTo: 1, holder: A, extras: [] } }, true)
  cut.freeze(view1.members, 1)
  cut.apply(view1.members, { [A]: { upTo: 1, holder: A, extras: [] } }, false)
  msg(1, 1)
  assert.equal(out, ['a:1'])
  assert.ok(cut.reached(view1.members))
})

test.run()
