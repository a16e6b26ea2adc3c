// A member's side of a flush (ts/membership/participant.ts) alone, over a fake
// host and a fake Gms: how it answers PREPARE, when its REPORT goes out, the
// CUT and DONE, and the RELEASE that ends a barrier flush. (gms.test.js runs
// it inside Gms; the simulator with everything else.)
//
//   C ── PREPARE(b) ──► P     P: asked → reported (REPORT to C)
//   C ── CUT(b) ──────► P     P: atCut; DONE to C once delivered up to the cut
//   C ── RELEASE(b) ──► P     (a barrier) P: out of the flush; INSTALLED to C
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Participant } from '../dist/membership/participant.js'

const A = 'a#000000000000000a', B = 'b#000000000000000b', C = 'c#000000000000000c', D = 'd#000000000000000d'
const VIEW = Object.freeze({ id: 3, members: [A, B, C], coordinator: A })
const LAST = { kind: 'install', ballot: { n: 2, coord: A }, view: { id: 3, members: [A, B, C], founder: A }, starts: {}, sides: [], provider: '', merged: [] }

function harness(me, { view = VIEW } = {}) {
  const host = {
    me,
    t: 0,
    sent: [],
    heard: new Set([A, B, C]),
    paused: 10, // what pause() returns (null: a fragmented message is still going out)
    holdings: { [A]: [7], [B]: [10], [C]: [5, 8] },
    reached: false,
    cuts: [],
    excludes: [],
    releases: 0,
    now() { return this.t },
    send(c, to) { this.sent.push({ c, to }) },
    pause() { return this.paused },
    freeze() { return this.holdings },
    applyCut(cut, barrier) { this.cuts.push({ cut, barrier }) },
    cutReached() { return this.reached },
    hears(m) { return this.heard.has(m) },
    exclude(m, excluded) { this.excludes.push([m, excluded]) },
    release() { this.releases++ },
    take(kind) {
      const found = this.sent.filter((s) => s.c.kind === kind)
      this.sent = this.sent.filter((s) => s.c.kind !== kind)
      return found
    },
  }
  const gms = {
    view,
    founder: A,
    installedLast: view ? LAST : null,
    highestSeen: view ? view.id : 0,
    preemptions: 0,
    sawView(id) { this.highestSeen = Math.max(this.highestSeen, id) },
    preempted() { this.preemptions++ },
  }
  return { host, gms, p: new Participant(host, gms) }
}

const prepare = (ballot, members, excluded = [], from = { id: 3, founder: A }) => ({ kind: 'prepare', ballot, from, merging: [], members, excluded })

test('participant – a PREPARE is answered with a REPORT of where our stream paused and what we hold', () => {
  const { host, gms, p } = harness(B)
  const b = { n: 3, coord: A }
  p.onPrepare(prepare(b, [A, B], [C]))
  assert.is(p.flush.phase, 'reported')
  const [report] = host.take('report')
  assert.is(report.to, A)
  assert.equal(report.c, { kind: 'report', ballot: b, view: 3, founder: A, members: [A, B, C], seen: 3, sent: 10, held: host.holdings, ready: true, last: LAST })
  assert.equal(host.excludes, [[C, true]], 'C no longer holds back our stability')
  assert.is(gms.preemptions, 1, 'an attempt of ours gives way to A\'s')
  p.onPrepare(prepare(b, [A, B], [C])) // C repeats it: the same report again
  assert.equal(host.take('report').map((r) => r.c), [report.c])
  assert.equal(host.excludes, [[C, true]])
})

test('participant – the REPORT waits while a fragmented message of ours is still going out', () => {
  const { host, p } = harness(B)
  host.paused = null
  p.onPrepare(prepare({ n: 3, coord: A }, [A, B, C]))
  assert.is(p.flush.phase, 'asked')
  assert.is(host.take('report').length, 0)
  p.tick()
  assert.is(host.take('report').length, 0)
  host.paused = 12
  p.tick()
  assert.is(p.flush.phase, 'reported')
  assert.is(host.take('report')[0].c.sent, 12)
})

test('participant – a lower ballot gets a NACK naming the one promised; a higher one is followed', () => {
  const { host, p } = harness(B)
  p.onPrepare(prepare({ n: 5, coord: C }, [B, C], [A]))
  host.take('report')
  p.onPrepare(prepare({ n: 4, coord: A }, [A, B, C]))
  assert.equal(host.take('nack').map((s) => [s.c.ballot, s.to]), [[{ n: 5, coord: C }, A]])
  assert.is(host.take('report').length, 0)
  assert.equal(p.flush.ballot, { n: 5, coord: C })
  p.onPrepare(prepare({ n: 6, coord: A }, [A, B, C]))
  assert.equal(p.promised, { n: 6, coord: A })
  assert.equal(host.take('report').map((s) => s.to), [A])
  assert.equal(host.excludes, [[A, true], [A, false]], 'A is back in')
})

test('participant – a member that did not hear everyone says so, and the PREPARE again asks anew', () => {
  const { host, p } = harness(B)
  host.heard.delete(C)
  const b = { n: 3, coord: A }
  p.onPrepare(prepare(b, [A, B, C]))
  assert.is(host.take('report')[0].c.ready, false)
  host.heard.add(C)
  p.onPrepare(prepare(b, [A, B, C]))
  assert.is(p.flush.phase, 'reported')
  assert.is(host.take('report')[0].c.ready, true)
})

test('participant – at the CUT it delivers up to it and sends DONE once, when the cut is reached', () => {
  const { host, gms, p } = harness(B)
  const b = { n: 3, coord: A }
  const cut = { [A]: { upTo: 7, holder: A, extras: [] } }
  p.onCut({ kind: 'cut', ballot: b, view: 4, cut }) // no flush yet: ignored
  assert.is(host.cuts.length, 0)
  p.onPrepare(prepare(b, [A, B, C]))
  p.onCut({ kind: 'cut', ballot: b, view: 4, cut })
  assert.is(p.flush.phase, 'atCut')
  assert.equal(host.cuts, [{ cut, barrier: false }])
  assert.is(gms.highestSeen, 4, 'the next view\'s id is seen')
  assert.is(host.take('done').length, 0, 'not before the cut is reached')
  p.onCut({ kind: 'cut', ballot: b, view: 4, cut }) // resent: applied once
  assert.is(host.cuts.length, 1)
  host.reached = true
  p.tick()
  assert.equal(host.take('done').map((s) => [s.c.ballot, s.to]), [[b, A]])
  assert.equal(p.doneBallot, b)
  p.tick()
  assert.is(host.take('done').length, 0, 'DONE goes out once from the tick (a resent CUT asks again)')
  p.onCut({ kind: 'cut', ballot: b, view: 4, cut })
  assert.is(host.take('done').length, 1)
})

test('participant – a RELEASE ends a barrier flush whose cut we reached, and is answered INSTALLED each time', () => {
  const { host, p } = harness(B)
  const b = { n: 3, coord: A }
  p.onPrepare(prepare(b, [A, B], [C]))
  p.onRelease({ kind: 'release', ballot: b }) // before DONE: not ours to end
  assert.is(host.releases, 0)
  assert.is(host.take('installed').length, 0)
  host.reached = true
  p.onCut({ kind: 'cut', ballot: b, view: 3, cut: {} })
  assert.is(host.cuts[0].barrier, true, 'a cut in the same view is a barrier')
  p.onRelease({ kind: 'release', ballot: b })
  assert.is(host.releases, 1)
  assert.is(p.flush, null)
  assert.equal(host.excludes, [[C, true], [C, false]], 'nobody is left out any more')
  assert.equal(host.take('installed').map((s) => s.to), [A])
  p.onRelease({ kind: 'release', ballot: b }) // A missed our INSTALLED
  assert.is(host.releases, 1)
  assert.equal(host.take('installed').map((s) => s.to), [A])
})

test('participant – a PREPARE repeated after its barrier was released is ignored, and a RELEASE repeated then delivers nothing', () => {
  const { host, p } = harness(B)
  const b = { n: 3, coord: A }
  p.onPrepare(prepare(b, [A, B, C]))
  host.reached = true
  p.onCut({ kind: 'cut', ballot: b, view: 3, cut: {} })
  p.onRelease({ kind: 'release', ballot: b })
  assert.is(host.releases, 1)
  host.take('report')
  p.onPrepare(prepare(b, [A, B, C])) // late, or sent again
  assert.is(p.flush, null, 'no flush taken up again')
  assert.is(host.take('report').length, 0, 'no REPORT: we are not frozen again')
  p.onRelease({ kind: 'release', ballot: b })
  assert.is(host.releases, 1, 'no second barrier without a cut')
  assert.equal(host.take('installed').map((s) => s.to), [A, A], 'INSTALLED each time')
})

test('participant – a PREPARE of a view we have left behind shows its coordinator our install; another group\'s is ignored', () => {
  const { host, p } = harness(B)
  p.onPrepare(prepare({ n: 9, coord: C }, [B, C], [], { id: 2, founder: A }))
  assert.equal(host.sent, [{ c: LAST, to: C }])
  assert.is(p.flush, null)
  host.sent = []
  p.onPrepare(prepare({ n: 9, coord: D }, [B, D], [], { id: 7, founder: D }))
  assert.equal(host.sent, [])
  assert.is(p.flush, null)
})

test('participant – a joiner answers only a PREPARE that names it, once it hears every proposed member', () => {
  const { host, gms, p } = harness(D, { view: null })
  host.heard = new Set([A, B])
  const b = { n: 4, coord: A }
  p.onPrepare(prepare(b, [A, B, C]))
  assert.is(p.flush, null, 'not proposed')
  p.onPrepare(prepare(b, [A, B, C, D]))
  assert.is(p.flush.phase, 'asked')
  assert.is(host.take('report').length, 0)
  host.heard.add(C)
  p.tick()
  const [report] = host.take('report')
  assert.equal([report.c.view, report.c.founder, report.c.members, report.c.sent, report.c.held], [0, '', [], 0, {}])
  // A joiner has no stream to cut: DONE at once.
  p.onCut({ kind: 'cut', ballot: b, view: 4, cut: {} })
  assert.is(host.cuts.length, 0)
  assert.equal(host.take('done').map((s) => s.to), [A])
  assert.is(gms.highestSeen, 4)
})

test.run()
