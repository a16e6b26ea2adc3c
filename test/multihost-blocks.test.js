// A ReplicatedMap across a healed partition, over real processes in
// network namespaces (test/helpers/netns.js): four hosts, partitions
// 'merge', the map's merge 'union'. Split 2|2, each side writes (the same
// key differently, and keys of its own), mend: at the merge the sides' maps
// become one, the same at all four. Needs root, like the multi-host suite.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { fileURLToPath } from 'node:url'
import { withTestbed } from './helpers/netns.js'
import { uniqueGroup } from './helpers/wait.js'

const script = fileURLToPath(new URL('./helpers/app-member.mjs', import.meta.url))
const SUSPECT = 1000
const PORT = 40000 + ((process.pid + 7) % 20000)

const state = async (m) => {
  m.command({ cmd: 'state' })
  return (await m.next((x) => x.type === 'state', 10000, `${m.name}: its state`)).map
}
const viewOf = (m, n) => m.next((x) => x.type === 'view' && x.members.length === n, 10 * SUSPECT + 10000, `${m.name}: a view of ${n}`)
const set = async (m, key, value) => {
  m.command({ cmd: 'set', key, value })
  await m.next((x) => x.type === 'set' && x.key === key, 10000, `${m.name}: set ${key}`)
}

test("multi-host blocks – a ReplicatedMap with merge 'union' across a 2|2 split: one map at all four after the merge", () => withTestbed(4, async (testbed) => {
  const group = uniqueGroup('mh-map')
  const options = (h) => ({ interface: h.ip, port: PORT, suspectTimeout: SUSPECT, partitions: 'merge', mapMerge: 'union' })
  const [h1, h2, h3, h4] = testbed.hosts.map((h) => testbed.start(h, group, h.name, options(h), script))
  const members = [h1, h2, h3, h4]
  await Promise.all(members.map((m) => viewOf(m, 4)))
  await set(h1, 'before', 1) // (in the view of four: every member delivers it before the split's views)

  const split = testbed.prepareSplit([h3.host, h4.host])
  await split()
  await Promise.all(members.map((m) => viewOf(m, 2)))
  await set(h1, 'shared', 'left')
  await set(h2, 'onlyLeft', 1)
  await set(h3, 'shared', 'right')
  await set(h4, 'onlyRight', 1)
  await set(h4, 'alsoRight', 2)
  const left = await state(h2)
  const right = await state(h3)
  assert.is(left.shared, 'left')
  assert.is(right.shared, 'right')

  testbed.mend()
  await Promise.all(members.map((m) => m.next((x) => x.type === 'merge', 10 * SUSPECT + 10000, `${m.name}: a 'merge'`)))
  let maps = []
  const deadline = Date.now() + 15000
  for (;;) {
    maps = await Promise.all(members.map(state))
    const same = maps.every((m) => JSON.stringify(Object.entries(m).sort()) === JSON.stringify(Object.entries(maps[0]).sort()))
    if (same && 'onlyLeft' in maps[0] && 'onlyRight' in maps[0]) break
    if (Date.now() > deadline) assert.unreachable(`the maps did not become one: ${JSON.stringify(maps)}`)
  }
  const one = maps[0]
  assert.is(one.before, 1)
  assert.is(one.onlyLeft, 1)
  assert.is(one.onlyRight, 1)
  assert.is(one.alsoRight, 2)
  assert.is(one.shared, 'right', "the larger side's value (the right side wrote one key more)")
  process.stdout.write(`    one map at all four after the merge: ${JSON.stringify(one)}\n`)
}))

test.run()
