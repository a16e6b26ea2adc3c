// An open group: a trading client that is not a member. Three replicas of an
// order book run as a group; the client connects (Group.connect), submits
// orders in total order (each replica applies them in one order, the
// client's among the replicas' own) and asks for quotes (requests, answered
// by every replica or the first). The member the client talks through then
// leaves: the client moves to another and goes on, and every order is
// applied exactly once, everywhere.
//
//   node examples/client.mjs
import { Group } from 'troupe'

const group = `book-example-${process.pid}`
const options = { suspectTimeout: 500 }

const replicas = []
for (const name of ['book-1', 'book-2', 'book-3']) {
  const g = await Group.join(group, { name, ...options })
  g.book = [] // orders in the order applied
  g.on('message', (msg) => g.book.push(`${msg.sender.split('#')[0]} ${msg.text()}`))
  g.on('request', (req) => JSON.stringify({ by: name, orders: g.book.length, best: 101.25 }))
  replicas.push(g)
}
// A replica's own order, among the client's.
replicas[0].send('SELL 5 ACME @101.30', { order: 'total' })

const client = await Group.connect(group, { name: 'trader', ...options })
console.log(`connected as ${client.me} through ${client.stats().member.split('#')[0]}; view of ${client.view.members.length}`)
try {
  for (let i = 0; i < 100; i++) client.send(`BUY ${i + 1} ACME`, { order: 'total' })
  const [fastest] = await client.request('quote ACME', { responses: 'first' })
  console.log(`first quote: ${fastest.text()}`)
  const all = await client.request('quote ACME', { responses: 'all', order: 'total' })
  console.log(`all quotes: ${all.map((r) => JSON.parse(r.text()).by).sort().join(', ')}`)

  // The client's member leaves: the client moves on (after suspectTimeout) and keeps sending.
  const through = replicas.find((g) => g.me === client.stats().member)
  const moved = new Promise((resolve) => client.once('member', resolve))
  await through.leave()
  for (let i = 100; i < 200; i++) client.send(`BUY ${i + 1} ACME`, { order: 'total' })
  const { member } = await moved
  console.log(`${through.me.split('#')[0]} left; the client moved to ${member.split('#')[0]}`)
  await client.close() // resolves once every replica holds every order

  const live = replicas.filter((g) => g !== through)
  while (live.some((g) => g.book.filter((x) => x.startsWith('trader')).length < 200)) await new Promise((r) => setTimeout(r, 10))
  const [a, b] = live.map((g) => g.book)
  const same = a.length === b.length && a.every((x, i) => x === b[i])
  const once = new Set(a).size === a.length
  console.log(`the two live replicas applied ${a.length} orders, ${same ? 'in one order' : 'in DIFFERENT orders'}, ${once ? 'each once' : 'some TWICE'}`)
  const ok = fastest !== undefined && all.length === 3 && same && once && a.filter((x) => x.startsWith('trader')).length === 200
  console.log(ok ? 'ok' : 'MISMATCH')
  process.exitCode = ok ? 0 : 1
} finally {
  await client.close()
  await Promise.all(replicas.map((g) => g.leave()))
}
