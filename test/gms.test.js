// The membership state machine (ts/membership/gms.ts) alone, over a fake
// host: what a coordinator sends, how it fixes the cut, and the rules a
// member follows. (The simulator runs it with everything else; these pin
// the single steps down.)
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Gms } from '../dist/membership/gms.js'
import { Merges } from '../dist/membership/merges.js'

const A = 'a#000000000000000a', B = 'b#000000000000000b', C = 'c#000000000000000c', D = 'd#000000000000000d', E = 'e#000000000000000e'
const config = { suspectTimeout: 1000, retry: 20, discovery: 200, partitions: 'primary' }

class FakeHost {
  constructor(me) {
    this.me = me
    this.t = 0
    this.sent = []
    this.suspects = new Set()
    this.heardSet = new Set([A, B, C])
    this.holdings = {}
    this.highest = 10
    this.cuts = []
    this.reached = false
    this.installs = []
    this.blocks = []
    this.excludedCalls = []
    this.state = true
  }
  now() { return this.t }
  send(c, to) { this.sent.push({ c, to }) }
  pause() { return this.highest }
  freeze() { return this.holdings }
  applyCut(cut) { this.cuts.push(cut) }
  cutReached() { return this.reached }
  install(i, view) { this.installs.push({ i, view }) }
  hasState() { return this.state }
  exclude(m, excluded) { this.excludedCalls.push([m, excluded]) }
  hears(m) { return this.heardSet.has(m) && !this.suspects.has(m) }
  suspected(m) { return this.suspects.has(m) }
  heard() { return [...this.heardSet] }
  blocked(b, reason) { this.blocks.push([b, reason]) }
  excluded(reason) { this.out = reason }
  left() { this.gone = true }
  take(kind) {
    const found = this.sent.filter((s) => s.c.kind === kind)
    this.sent = this.sent.filter((s) => s.c.kind !== kind)
    return found
  }
}

/** A Gms in view 3 of [A, B, C], installed as a member would. */
function inView(me) {
  const host = new FakeHost(me)
  const gms = new Gms(host, config)
  const ballot = { n: 2, coord: A }
  gms.onControl(A, { kind: 'prepare', ballot, from: { id: 2, founder: A }, merging: [], members: [A, B, C], excluded: [] })
  host.reached = true
  gms.onControl(A, { kind: 'cut', ballot, view: 3, cut: {} })
  gms.onControl(A, { kind: 'install', ballot, view: { id: 3, members: [A, B, C], founder: A }, starts: { [A]: 1, [B]: 1, [C]: 1 }, sides: [], provider: '', merged: [] })
  host.sent = []
  host.reached = false
  return { host, gms }
}

test('gms – the coordinator excludes a suspected member and cuts its stream at the most anyone holds', () => {
  const { host, gms } = inView(A)
  assert.is(gms.view.id, 3)
  host.suspects.add(C)
  host.t = 100
  host.holdings = { [A]: [10], [B]: [7], [C]: [40] }
  gms.tick()
  const [prepare] = host.take('prepare')
  assert.ok(prepare, 'a PREPARE went out')
  assert.equal(prepare.c.members, [A, B])
  assert.equal(prepare.c.excluded, [C])
  assert.ok(host.excludedCalls.some(([m, x]) => m === C && x), 'C no longer holds back our stability')
  const ballot = prepare.c.ballot
  // Our own report goes to ourselves (the coordinator).
  const mine = host.take('report')[0].c
  gms.onControl(A, mine)
  gms.onControl(B, { kind: 'report', ballot, view: 3, founder: A, members: [A, B, C], seen: 3, sent: 7, held: { [A]: [9], [B]: [7], [C]: [45, 47] }, ready: true, last: null })
  const [cut] = host.take('cut')
  assert.ok(cut, 'a CUT went out once both reported')
  assert.equal(cut.c.cut[A], { upTo: 10, holder: A, extras: [] }, 'a live sender is cut at its own last seq')
  assert.equal(cut.c.cut[B], { upTo: 7, holder: B, extras: [] })
  assert.equal(cut.c.cut[C], { upTo: 45, holder: B, extras: [[47, B]] }, 'the crashed sender: the most any member holds, and who holds it')
  assert.is(cut.c.view, 4)
  // Nobody installs before every member is done.
  gms.onControl(B, { kind: 'done', ballot })
  assert.is(host.take('install').length, 0)
  host.reached = true
  gms.tick()
  gms.onControl(A, host.take('done')[0].c)
  const [install] = host.take('install')
  assert.ok(install)
  assert.equal(install.c.view, { id: 4, members: [A, B], founder: A })
  assert.equal(install.c.starts, { [A]: 11, [B]: 8 })
  assert.is(host.installs.at(-1).view.id, 4)
})

test('gms – a member answers a lower ballot with NACK and follows a higher one', () => {
  const { host, gms } = inView(B)
  const high = { n: 9, coord: C }
  gms.onControl(C, { kind: 'prepare', ballot: high, from: { id: 3, founder: A }, merging: [], members: [B, C], excluded: [A] })
  assert.is(host.take('report')[0].to, C)
  gms.onControl(A, { kind: 'prepare', ballot: { n: 4, coord: A }, from: { id: 3, founder: A }, merging: [], members: [A, B, C], excluded: [] })
  const [nack] = host.take('nack')
  assert.equal(nack.c.ballot, high)
  assert.is(host.take('report').length, 0)
})

test('gms – a coordinator that hears no majority of its view is blocked and starts no flush', () => {
  const { host, gms } = inView(A)
  host.suspects.add(B)
  host.suspects.add(C)
  host.t = 100
  gms.tick()
  assert.is(host.take('prepare').length, 0)
  assert.equal(host.blocks.map((b) => b[0]), [true])
  host.suspects.delete(C)
  host.t = 200
  gms.tick()
  assert.equal(host.blocks.map((b) => b[0]), [true, false])
  assert.ok(host.take('prepare').length > 0, 'with a majority back it excludes B')
})

test('gms – a member that learns of a newer view of its line without it is out', () => {
  const { host, gms } = inView(C)
  gms.onControl(A, { kind: 'announce', view: { id: 5, members: [A, B], founder: A }, partitions: false })
  assert.match(host.out, /without us/)
})

test('gms – a leaver counts toward the majority only while it is there: gone before the cut, the count is made again', () => {
  // View 3 of [A, B, C]: C is cut off, B leaves. A and B are 2 of 3: A may go on, with B handing over.
  const { host, gms } = inView(A)
  host.heardSet.add(B)
  host.suspects.add(C)
  host.t = 100
  gms.onControl(B, { kind: 'leave', member: B })
  gms.tick()
  const [prepare] = host.take('prepare')
  assert.ok(prepare, 'a flush with B as a leaver')
  assert.equal(prepare.c.members, [A])
  gms.onControl(A, host.take('report')[0].c) // our own report
  // B goes (it went to the other side, and counts there) before it reported here.
  host.suspects.add(B)
  host.reached = true
  for (const t of [200, 300, 400]) {
    host.t = t
    gms.tick()
    for (const r of host.take('report')) gms.onControl(A, r.c)
  }
  assert.is(host.take('cut').length, 0, 'no cut: A alone is 1 of 3')
  assert.is(host.take('install').length, 0)
  assert.ok(host.blocks.some(([b]) => b), "A is blocked (primary partition)")
})

test('gms – a joiner answers INSTALLED only once it has the state', () => {
  const host = new FakeHost(D)
  host.state = false
  const gms = new Gms(host, config)
  const ballot = { n: 3, coord: A }
  gms.onControl(A, { kind: 'prepare', ballot, from: { id: 3, founder: A }, merging: [], members: [A, B, C, D], excluded: [] })
  gms.onControl(A, { kind: 'cut', ballot, view: 4, cut: {} })
  const install = { kind: 'install', ballot, view: { id: 4, members: [A, B, C, D], founder: A }, starts: { [A]: 1, [B]: 1, [C]: 1 }, sides: [], provider: A, merged: [] }
  gms.onControl(A, install)
  assert.is(gms.view.id, 4)
  assert.is(host.take('installed').length, 0, 'not while the state is still coming')
  gms.onControl(A, install) // the coordinator resends it
  assert.is(host.take('installed').length, 0)
  host.state = true
  gms.stateReady() // the state is in: answer at once
  assert.equal(host.take('installed').map((s) => s.to), [A])
  gms.onControl(A, install) // and to a resend, again
  assert.equal(host.take('installed').map((s) => s.to), [A])
})

test('gms – the coordinator admits the next joiner only after the last one has its state', () => {
  // (A joiner without its state cannot reach a later cut, and needs the givers
  // of its first view: a crash of those must not take a later view down with it.)
  const { host, gms } = inView(A)
  host.heardSet.add(D).add(E)
  host.reached = true
  gms.onControl(D, { kind: 'join', member: D })
  const ballot = host.take('prepare')[0].c.ballot
  gms.onControl(A, host.take('report')[0].c)
  for (const m of [B, C]) gms.onControl(m, { kind: 'report', ballot, view: 3, founder: A, members: [A, B, C], seen: 3, sent: 1, held: {}, ready: true, last: null })
  gms.onControl(D, { kind: 'report', ballot, view: 0, founder: '', members: [], seen: 0, sent: 0, ready: true, last: null })
  gms.onControl(A, host.take('done')[0].c)
  for (const m of [B, C, D]) gms.onControl(m, { kind: 'done', ballot })
  assert.is(host.take('install')[0].c.view.id, 4)
  for (const m of [A, B, C]) gms.onControl(m, { kind: 'installed', ballot })
  // D is still pulling its state: E waits.
  host.t = 100
  gms.onControl(E, { kind: 'join', member: E })
  gms.tick()
  assert.is(host.take('prepare').length, 0)
  gms.onControl(D, { kind: 'installed', ballot })
  host.t = 200
  gms.tick()
  assert.equal(host.take('prepare')[0]?.c.members, [A, B, C, D, E])
})

test("merges – a side is merged once none of its members is suspected here, or suspectTimeout after its first announce (a member heard after its coordinator is not left out)", () => {
  const merges = new Merges({ retry: 20, suspectTimeout: 1000 })
  const side = { id: 5, founder: C, members: [C, D] }
  const suspected = new Set([C, D]) // both suspected while apart
  const toMerge = (t) => merges.toMerge(t, (m) => m === C && !suspected.has(C), (m) => suspected.has(m))
  merges.lead(C, side, 0)
  assert.equal(toMerge(0), [], 'its coordinator not heard yet')
  suspected.delete(C) // C heard again after the mend
  assert.equal(toMerge(10), [], 'D still suspected: not yet')
  merges.lead(C, side, 100)
  suspected.delete(D) // D heard too
  assert.equal(toMerge(110), [side], 'all heard: merged')
  // A member that stays silent (gone while apart) holds the merge for suspectTimeout at most.
  const late = new Merges({ retry: 20, suspectTimeout: 1000 })
  late.lead(C, side, 0)
  suspected.add(D)
  const f = (t) => late.toMerge(t, () => true, (m) => suspected.has(m))
  for (let t = 100; t < 1000; t += 100) { late.lead(C, side, t); assert.equal(f(t), [], `at ${t} ms: still waiting for D`) }
  late.lead(C, side, 1000)
  assert.equal(f(1000), [side], 'after suspectTimeout: merged without waiting for D')
})

test.run()
