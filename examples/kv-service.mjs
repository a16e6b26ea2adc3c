// A replicated key-value service: three members share a ReplicatedMap (every
// write in the group's total order, the same map everywhere); a member that
// joins late starts from the same map through state transfer, then writes too.
//
//   node examples/kv-service.mjs
import { joinWith, ReplicatedMap } from 'troupe/blocks'

const group = `kv-example-${process.pid}`
const members = []
const join = async (name) => {
  const map = new ReplicatedMap('config')
  const g = await joinWith(group, [map], { name })
  members.push({ name, g, map })
  return map
}
try {
  const [a, b, c] = [await join('a'), await join('b'), await join('c')]
  // Writes from every member at once: the total order decides, alike everywhere.
  await Promise.all([
    a.set('region', 'eu-west'), b.set('region', 'us-east'), c.set('replicas', 3),
    a.set('owner', 'team-a'), b.delete('owner'),
  ])
  b.on('change', ({ key, value, member }) => console.log(`b saw ${key} = ${JSON.stringify(value)} (from ${member.split('#')[0]})`))

  const late = await join('late') // gets the map in its state transfer
  console.log('late joiner starts with', JSON.stringify(late.toJSON()))
  await late.set('joined', true) // resolves once applied here; the others apply it in the same order
  for (const m of members) if (!m.map.has('joined')) await new Promise((r) => m.map.on('change', (c) => c.key === 'joined' && r()))

  const same = members.every((m) => JSON.stringify([...m.map].sort()) === JSON.stringify([...late].sort()))
  console.log(`all ${members.length} members hold`, JSON.stringify(a.toJSON()))
  console.log(same ? 'ok' : 'MISMATCH')
  process.exitCode = same ? 0 : 1
} finally {
  await Promise.all(members.map((m) => m.g.leave()))
}
