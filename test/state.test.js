// State transfer alone (ts/node/state.ts): a joiner's StateTaker pulling from
// givers' StateGivers over a hand-carried list of CONTROL messages, with a
// clock the test moves. Chunks are lost, givers die, states expire.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { StateGiver, StateTaker } from '../dist/node/state.js'

const config = { retry: 20, suspectTimeout: 300, maxControl: 164 } // chunks of 100 bytes

/** Members by id, each with a host on one shared clock and outbox. */
function world(ids) {
  const w = { now: 0, wire: [], gone: new Set(), hosts: {} }
  for (const id of ids) {
    w.hosts[id] = { now: () => w.now, send: (c, to) => w.wire.push({ from: id, to, c }), gone: (m) => w.gone.has(m), config }
  }
  return w
}

const state = (n) => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff)

/** Carries every message once: requests to the givers, chunks to the taker. Returns the state if it completed. */
function carry(w, taker, givers, lose = () => false) {
  let done = null
  while (w.wire.length > 0) {
    const { from, to, c } = w.wire.shift()
    if (lose(c)) continue
    if (c.kind === 'stateRequest' && givers[to] && !w.gone.has(to)) givers[to].serve(from, c)
    if (c.kind === 'stateChunk') {
      const got = taker.onChunk(from, c)
      if (got === 'more') assert.is(taker.ask(false), null)
      if (got instanceof Uint8Array) done = got
    }
  }
  return done
}

test('state – a joiner pulls a state in chunks, the first telling the size, at most a window at a time', () => {
  const w = world(['giver', 'joiner'])
  const giver = new StateGiver(w.hosts.giver)
  const bytes = state(25_050)
  giver.keep(3, bytes)
  const taker = new StateTaker(w.hosts.joiner, 3, ['giver'])
  assert.is(taker.ask(false), null)
  assert.equal(w.wire.map((m) => [m.c.kind, m.c.offset, m.c.length]), [['stateRequest', 0, 100]], 'first, one chunk: it tells the size')
  const asked = []
  const done = carry(w, taker, { giver }, (c) => {
    if (c.kind === 'stateRequest') asked.push(c.length)
    return false
  })
  assert.ok(done, 'complete')
  assert.equal([...done], [...bytes])
  assert.ok(Math.max(...asked) <= 64 * 100, `never more than 64 chunks asked at once (${Math.max(...asked) / 100})`)
})

test('state – chunks lost are asked again once they are late, and the state still completes', () => {
  const w = world(['giver', 'joiner'])
  const giver = new StateGiver(w.hosts.giver)
  giver.keep(5, state(3_000))
  const taker = new StateTaker(w.hosts.joiner, 5, ['giver'])
  taker.ask(false)
  let dropped = 0
  assert.is(carry(w, taker, { giver }, (c) => c.kind === 'stateChunk' && c.offset % 700 === 0 && dropped++ < 3), null, 'incomplete while chunks are lost')
  w.now += 2 * config.retry
  assert.is(taker.ask(true), null)
  const done = carry(w, taker, { giver })
  assert.equal([...done], [...state(3_000)])
})

test('state – a giver that dies is replaced by the next; with none left the joiner is told why', () => {
  const w = world(['a', 'b', 'joiner'])
  const a = new StateGiver(w.hosts.a), b = new StateGiver(w.hosts.b)
  a.keep(7, state(1_000))
  b.keep(7, state(1_000))
  const taker = new StateTaker(w.hosts.joiner, 7, ['a', 'b'])
  taker.ask(false)
  w.gone.add('a') // dies before answering
  w.wire.length = 0
  assert.is(taker.ask(true), null, 'turns to b')
  assert.equal(w.wire.map((m) => m.to), ['b'])
  assert.equal([...carry(w, taker, { a, b })], [...state(1_000)])

  const alone = new StateTaker(w.hosts.joiner, 7, ['a'])
  assert.is(alone.ask(false), 'the members giving us the state are gone')
  const quiet = new StateTaker(w.hosts.joiner, 7, ['b'])
  quiet.ask(false)
  w.wire.length = 0 // b never answers
  w.now += 2 * config.suspectTimeout + 10 * config.retry + 1
  assert.is(quiet.ask(true), 'the state transfer stalled')
})

test('state – an empty state completes at once; chunks from others or for other views are ignored; a kept state expires', () => {
  const w = world(['giver', 'joiner'])
  const giver = new StateGiver(w.hosts.giver)
  giver.keep(2, new Uint8Array(0))
  const taker = new StateTaker(w.hosts.joiner, 2, ['giver'])
  assert.is(taker.onChunk('someone', { kind: 'stateChunk', view: 2, offset: 0, total: 0, bytes: new Uint8Array(0) }), null)
  assert.is(taker.onChunk('giver', { kind: 'stateChunk', view: 9, offset: 0, total: 0, bytes: new Uint8Array(0) }), null)
  taker.ask(false)
  assert.equal(carry(w, taker, { giver }), new Uint8Array(0))
  w.now += 60_001
  giver.expire()
  giver.serve('joiner', { kind: 'stateRequest', view: 2, offset: 0, length: 100 })
  assert.is(w.wire.length, 0, 'nothing kept for view 2 any more')
})

test.run()
