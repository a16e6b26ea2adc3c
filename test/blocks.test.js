// The building blocks (troupe/blocks) in one process: a ReplicatedMap, a
// LockService and a Counter, several in one group beside the application's
// own messages and state; each ends the same at every member, reaches a
// joiner through state transfer, and a member that leaves releases its locks
// once, everywhere.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Group } from '../dist/index.js'
import { Counter, joinWith, LockService, ReplicatedMap } from '../dist/blocks/index.js'
import { MapMachine, unionByLargerSide } from '../dist/blocks/map.js'
import { until, uniqueGroup } from './helpers/wait.js'
import { throwsWith } from './helpers/assert.js'

/** n members of a new group, each with the blocks make() gives it; left at the end. */
async function withBlocks(n, make, body, options = {}) {
  const name = uniqueGroup('blocks')
  const members = []
  const join = async (i) => {
    const blocks = make(i)
    const group = await joinWith(name, Object.values(blocks), { name: `m${i}`, ...options })
    const m = { group, ...blocks }
    members.push(m)
    return m
  }
  try {
    for (let i = 0; i < n; i++) await join(i)
    await until(() => members.every((m) => m.group.view.members.length === n), { timeout: 10000, what: `a view of ${n}` })
    await body(members, join)
  } finally {
    await Promise.all(members.map((m) => m.group.leave().catch(() => {})))
  }
}

test('blocks – ReplicatedMap: concurrent writers end equal everywhere, changes are events, a joiner gets the map', async () => {
  await withBlocks(3, () => ({ map: new ReplicatedMap('config') }), async (members, join) => {
    const changes = members.map((m) => {
      const log = []
      m.map.on('change', (c) => log.push(`${c.key}=${JSON.stringify(c.value)}`))
      return log
    })
    // Every member writes the same keys at once: the one order decides who wins, alike everywhere.
    await Promise.all(members.flatMap((m, i) => Array.from({ length: 30 }, (_, k) => m.map.set(`k${k % 10}`, { by: i, k }))))
    await Promise.all(members.map((m) => m.map.delete('k9'))) // (one of them deletes it: 90 sets + 1 delete)
    await until(() => changes.every((c) => c.length === 91), { what: 'every change at every member' })
    for (const c of changes) assert.equal(c, changes[0], 'the same changes in the same order')
    const want = members[0].map.toJSON()
    assert.is(Object.keys(want).length, 9)
    for (const m of members) assert.equal(m.map.toJSON(), want)
    assert.is(await members[1].map.delete('k9'), false, 'deleted already')
    const late = await join(3)
    assert.equal(late.map.toJSON(), want, 'the joiner starts from the same map')
    await late.map.set('late', true)
    await until(() => members.every((m) => m.map.get('late') === true), { what: "the joiner's write everywhere" })
    assert.is(await members[0].map.clear(), 10, 'clear() says how many keys there were')
    await until(() => members.every((m) => m.map.size === 0), { what: 'the map empty everywhere' })
  })
})

test('blocks – LockService: one holder at a time, granted in the one order of requests, the same everywhere', async () => {
  await withBlocks(3, () => ({ locks: new LockService() }), async (members) => {
    const grants = members.map((m) => {
      const log = []
      m.locks.on('granted', (e) => log.push(e.member))
      return log
    })
    let inside = 0
    let overlaps = 0
    let done = 0
    await Promise.all(members.map(async (m) => {
      for (let k = 0; k < 5; k++) {
        const handle = await m.locks.lock('printer')
        if (inside++ > 0) overlaps++
        assert.ok(handle.held)
        await new Promise((r) => setImmediate(r))
        inside--
        await handle.unlock()
        assert.not.ok(handle.held)
        done++
      }
    }))
    assert.is(done, 15)
    assert.is(overlaps, 0, 'never two holders')
    await until(() => grants.every((g) => g.length === 15), { what: 'every grant event everywhere' })
    for (const g of grants) assert.equal(g, grants[0], 'the same holders in the same order everywhere')
    assert.is(members[0].locks.holder('printer'), undefined)
  })
})

test('blocks – LockService: a holder that leaves releases the lock once, everywhere, to the next in line', async () => {
  await withBlocks(3, () => ({ locks: new LockService() }), async ([a, b, c]) => {
    await a.locks.lock('L')
    const released = [b, c].map((m) => {
      const log = []
      m.locks.on('released', (e) => log.push(e))
      return log
    })
    const bGot = b.locks.lock('L')
    await until(() => c.locks.queue('L').length === 2, { what: "b's request in the queue" })
    assert.equal(c.locks.queue('L'), [a.group.me, b.group.me])
    const aId = a.group.me
    await a.group.leave()
    const handle = await bGot
    assert.ok(handle.held)
    await until(() => c.locks.holder('L') === b.group.me, { what: 'c to see b hold it' })
    for (const log of released) assert.equal(log, [{ lock: 'L', member: aId, reason: 'left' }], 'released once, as left')
    await handle.unlock()
  })
})

test('blocks – LockService: a timeout or an abort gives up the request (and the lock, if granted meanwhile)', async () => {
  await withBlocks(2, () => ({ locks: new LockService() }), async ([a, b]) => {
    const held = await a.locks.lock('L')
    const err = await b.locks.lock('L', { timeout: 100 }).catch((e) => e)
    assert.is(err.code, 'ERR_TROUPE_LOCK_TIMEOUT')
    const ac = new AbortController()
    const asked = b.locks.lock('L', { signal: ac.signal })
    ac.abort()
    assert.is((await asked.catch((e) => e)).name, 'AbortError')
    await until(() => a.locks.queue('L').length === 1, { what: "b's requests out of the queue" })
    await held.unlock()
    await until(() => a.locks.holder('L') === undefined && b.locks.holder('L') === undefined, { what: 'the lock free' })
    await throwsWith(() => a.locks.lock('L', { timeout: -1 }), RangeError, /option timeout of lock\(\)/, 'ERR_OUT_OF_RANGE')
    await throwsWith(() => a.locks.lock(''), TypeError, /lock name/, 'ERR_INVALID_ARG_TYPE')
  })
})

test('blocks – Counter: concurrent adds are linearisable (every result once), compareAndSet lets exactly one win', async () => {
  await withBlocks(3, () => ({ counter: new Counter('hits') }), async (members, join) => {
    const results = await Promise.all(members.flatMap((m) => Array.from({ length: 20 }, () => m.counter.add())))
    assert.equal(results.sort((x, y) => x - y), Array.from({ length: 60 }, (_, i) => i + 1), 'each add saw a distinct value')
    assert.is(await members[2].counter.get(), 60)
    const wins = await Promise.all(members.map((m, i) => m.counter.compareAndSet(60, 100 + i)))
    assert.is(wins.filter(Boolean).length, 1)
    const final = await members[0].counter.get()
    assert.is(final, 100 + wins.indexOf(true))
    await until(() => members.every((m) => m.counter.value === final), { what: 'every copy' })
    const late = await join(3)
    assert.is(late.counter.value, final)
    await throwsWith(() => late.counter.add(1.5), RangeError, /delta of add\(\)/, 'ERR_OUT_OF_RANGE')
  })
})

test("blocks – several in one group beside the application's messages and state; argument checks", async () => {
  const name = uniqueGroup('blocks-mixed')
  const groups = []
  try {
    const appState = []
    const make = (i) => ({ map: new ReplicatedMap('m'), counter: new Counter('c'), locks: new LockService('l'), i })
    const a = make(0)
    const ga = await joinWith(name, [a.map, a.counter, a.locks], { name: 'a', getState: () => Buffer.from('app-state'), setState: () => {} })
    groups.push(ga)
    let plain = 0
    ga.on('message', () => plain++)
    await a.map.set('x', 1)
    await a.counter.add(5)
    ga.send('hello')
    const b = make(1)
    const gb = await joinWith(name, [b.map, b.counter, b.locks], { name: 'b', getState: () => Buffer.from('app-state'), setState: (s) => appState.push(Buffer.from(s).toString()) })
    groups.push(gb)
    assert.equal(appState, ['app-state'], "the application's own state came through too")
    assert.is(b.map.get('x'), 1)
    assert.is(b.counter.value, 5)
    await until(() => plain === 1, { what: "the application's message" })
    await b.counter.add(1)
    await until(() => a.counter.value === 6, { what: "b's add at a" })
    assert.is(plain, 1, "blocks' operations never reach 'message'")
    await throwsWith(() => joinWith(name, [new Counter('c'), new Counter('c')]), RangeError, /both counter 'c'/, 'ERR_INVALID_ARG_VALUE')
    await throwsWith(() => joinWith(name, [{}]), TypeError, /blocks of joinWith\(\)/, 'ERR_INVALID_ARG_TYPE')
    await throwsWith(() => joinWith(name, [new Counter('z')], { receiveOwn: false }), RangeError, /receiveOwn/, 'ERR_INVALID_ARG_VALUE')
    await throwsWith(() => new ReplicatedMap('bad name'), RangeError, /name of a map/, 'ERR_INVALID_ARG_VALUE')
    await throwsWith(() => a.map.set('k', undefined), TypeError, /value of set\(\)/, 'ERR_INVALID_ARG_TYPE')
    await throwsWith(() => a.map.set('k', 10n), TypeError, /JSON/, 'ERR_INVALID_ARG_TYPE')
    await throwsWith(() => new Counter('q').add(), Error, /not in a group yet/, 'ERR_TROUPE_CLOSED')
    await ga.leave()
    await throwsWith(() => a.counter.add(), Error, /was left/, 'ERR_TROUPE_CLOSED')
    assert.ok(Group) // (the blocks module and the main one share one Group class)
  } finally {
    await Promise.all(groups.map((g) => g.leave().catch(() => {})))
  }
})

test('blocks – MapMachine reconciles a merge: each side\'s first member sends its map, operations wait, every member ends with one map', () => {
  // Two sides, {a, b} and {c}, each with its own map, merge. Every member is
  // fed the same operations in the same order (what total order gives them).
  const sides = [['a', 'b'], ['c']]
  const members = { a: new MapMachine(unionByLargerSide), b: new MapMachine(unionByLargerSide), c: new MapMachine(unionByLargerSide) }
  const settled = []
  for (const [id, m] of Object.entries(members)) m.settled = (op, sender, result) => settled.push(`${id}: ${op.k} from ${sender} -> ${result}`)
  let i = 0
  const feed = (op, sender) => Object.values(members).map((m) => m.apply({ ...op, i: ++i }, sender))
  const side = (ids, op) => ids.forEach((id) => members[id].apply({ ...op, i: ++i }, ids[0]))
  side(['a', 'b'], { o: 'set', k: 'x', v: 1 })
  side(['a', 'b'], { o: 'set', k: 'y', v: 1 })
  side(['c'], { o: 'set', k: 'x', v: 2 })
  side(['c'], { o: 'set', k: 'z', v: 2 })
  const outgoing = Object.fromEntries(Object.entries(members).map(([id, m]) => [id, m.onMerge(sides, id)]))
  assert.ok(outgoing.a && outgoing.c && outgoing.b === null, 'the first member of each side sends its map')
  assert.equal(feed({ o: 'set', k: 'w', v: 3 }, 'b'), ['later', 'later', 'later'], 'operations wait while the merge is reconciled')
  feed(outgoing.c, 'c')
  assert.ok(members.a.reconciling)
  feed(outgoing.a, 'a')
  for (const m of Object.values(members)) {
    assert.not.ok(m.reconciling)
    assert.equal(Object.fromEntries(m.entries), { x: 1, y: 1, z: 2, w: 3 }, 'the larger side wins x; every key kept; then what waited')
  }
  assert.equal(settled.sort(), ['a: w from b -> undefined', 'b: w from b -> undefined', 'c: w from b -> undefined'])
})

test('blocks – MapMachine: a side whose every member left is not waited for; a side\'s next member sends when its first left', () => {
  const sides = [['a', 'b'], ['c'], ['d']]
  const m = new MapMachine(unionByLargerSide)
  m.apply({ o: 'set', k: 'k', v: 'mine', i: 1 }, 'a')
  assert.equal(m.onMerge(sides, 'b'), null, 'b is not the first of its side')
  const after = m.onView(['b', 'c'], 'b') // a and d left before sending
  assert.is(after.o, 'side', 'b, now the first of its side here, sends')
  m.apply({ ...after, i: 2 }, 'b')
  assert.ok(m.reconciling, 'c has not sent yet')
  m.apply({ o: 'side', m: after.m, s: 1, e: [['c', 1]], i: 3 }, 'c')
  assert.not.ok(m.reconciling, "d's side is gone: not waited for")
  assert.equal(Object.fromEntries(m.entries), { k: 'mine', c: 1 })
  m.apply({ o: 'side', m: 'another merge', s: 0, e: [['stale', 1]], i: 4 }, 'x')
  assert.is(m.entries.has('stale'), false, "a side's map of another merge is ignored")
})

test.run()
