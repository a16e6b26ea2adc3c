// Request/response across a group: a pricing service of three replicas and
// a member that asks them. 'first' takes the fastest answer; 'all' waits for
// every replica, and a replica that leaves before answering is named in
// `left` at the view without it rather than waited for until the timeout.
//
//   node examples/requests.mjs
import { Group } from 'troupe'

const group = `rpc-example-${process.pid}`
const replicas = []
for (const name of ['pricer-1', 'pricer-2', 'pricer-3']) {
  const g = await Group.join(group, { name })
  // An async handler: its resolved value is the reply.
  g.on('request', async (req) => {
    const { symbol } = req.json()
    if (name === 'pricer-3' && symbol === 'SLOW') return new Promise(() => {}) // never answers
    return JSON.stringify({ symbol, px: 101.25, by: name })
  })
  replicas.push(g)
}
const client = await Group.join(group, { name: 'client' })
try {
  while (client.view.members.length < 4) await new Promise((r) => client.once('view', r))

  const [fastest] = await client.request(JSON.stringify({ symbol: 'ACME' }), { responses: 'first' })
  console.log(`first answer: ${fastest.text()} from ${fastest.member.split('#')[0]}`)

  const all = await client.request(JSON.stringify({ symbol: 'ACME' }), { responses: 'all', order: 'total' })
  console.log(`all: ${all.length} answers from ${all.map((r) => r.member.split('#')[0]).sort().join(', ')}`)

  // pricer-3 holds this one, then leaves: the request resolves at the view change.
  const asked = client.request(JSON.stringify({ symbol: 'SLOW' }), { responses: 'all', timeout: 30_000 })
  const t0 = performance.now()
  await replicas[2].leave()
  const slow = await asked
  console.log(`SLOW: ${slow.length} answers, left: ${slow.left.map((m) => m.split('#')[0]).join(', ')} (${(performance.now() - t0).toFixed(0)} ms, not the 30 s timeout)`)
  const ok = fastest !== undefined && all.length === 3 && slow.length === 2 && slow.left.length === 1
  console.log(ok ? 'ok' : 'MISMATCH')
  process.exitCode = ok ? 0 : 1
} finally {
  await Promise.all([client, ...replicas].map((g) => g.leave()))
}
