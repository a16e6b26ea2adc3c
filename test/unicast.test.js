// transport: 'udp-unicast': no multicast socket at all; members fan out to
// the listed peers (and to members they learn of). Same API, same guarantees.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Group } from '../dist/index.js'
import { defaultEndpoint } from '../dist/options.js'
import { until, uniqueGroup } from './helpers/wait.js'
import { throwsWith } from './helpers/assert.js'

test('options – transport and peers are checked and named', async () => {
  const g = uniqueGroup('uopts')
  await throwsWith(() => Group.join(g, { transport: 'tcp' }), RangeError, /option transport must be one of 'udp-multicast', 'udp-unicast'/)
  await throwsWith(() => Group.join(g, { transport: 'udp-unicast' }), TypeError, /option peers must be a non-empty array/)
  await throwsWith(() => Group.join(g, { transport: 'udp-unicast', peers: [] }), TypeError, /option peers must be a non-empty array/)
  await throwsWith(() => Group.join(g, { transport: 'udp-unicast', peers: ['127.0.0.1'] }), RangeError, /option peers\[0\] must be 'ip:port'/)
  await throwsWith(() => Group.join(g, { transport: 'udp-unicast', peers: ['127.0.0.1:1', 'host:80'] }), RangeError, /option peers\[1\]/)
  await throwsWith(() => Group.join(g, { transport: 'udp-unicast', peers: ['127.0.0.1:70000'] }), RangeError, /option peers\[0\]/)
  await throwsWith(() => Group.join(g, { peers: ['127.0.0.1:5000'] }), TypeError, /option peers needs transport: 'udp-unicast'/)
  await throwsWith(() => Group.join(g, { transport: 'udp-unicast', peers: ['127.0.0.1:5000'], address: '239.1.1.1' }), TypeError, /option address .* does not go with transport 'udp-unicast'/)
})

test('unicast – 3 members with 5% loss, duplication and reordering: every message exactly once, FIFO and one total order; a joiner that lists them gets the state', async () => {
  const name = uniqueGroup('unicast')
  const base = defaultEndpoint(name).port
  const peers = [0, 1, 2].map((i) => `127.0.0.1:${base + i}`)
  const seed = Math.floor(Math.random() * 2 ** 31)
  const members = []
  const text = new TextDecoder()
  const join = async (i, list, extra = {}) => {
    const g = await Group.join(name, {
      name: `u${i}`,
      transport: 'udp-unicast',
      peers: list,
      port: base + i,
      suspectTimeout: 1000,
      inject: { loss: 0.05, duplicate: 0.02, reorder: 0.05, seed: seed + i },
      // Ethernet-sized datagrams, as unicast groups between hosts use: enough of them that loss hits data.
      datagramSize: 1472,
      ...extra,
    })
    g.got = []
    g.on('message', (m) => g.got.push([m.sender, text.decode(m.data), m.order]))
    members.push(g)
    return g
  }
  try {
    let sum = 0
    const state = { getState: () => Uint8Array.of(sum & 255), setState: () => {} }
    await Promise.all([0, 1, 2].map((i) => join(i, peers, state)))
    await until(() => members.every((g) => g.view.members.length === 3), { what: 'one view of 3', timeout: 10000 })
    const count = 3000
    const orders = ['fifo', 'total', 'unordered', 'causal']
    for (let n = 0; n < count; n++) {
      for (const g of members) {
        if (!g.send(new TextEncoder().encode(`${g.me}/${n}`), { order: orders[n % orders.length] })) await new Promise((r) => g.once('drain', r))
      }
    }
    const expect = 3 * count
    await until(() => members.every((g) => g.got.length === expect), {
      what: 'every member delivers every message',
      timeout: 30000,
      detail: () => `seed ${seed}: ${members.map((g) => g.got.length).join(', ')} of ${expect}`,
    })
    for (const g of members) {
      for (const s of members) {
        const mine = g.got.filter(([sender]) => sender === s.me)
        const seqs = mine.map(([, body]) => Number(body.split('/')[1]))
        assert.equal([...seqs].sort((x, y) => x - y), Array.from({ length: count }, (_, i) => i), `seed ${seed}: ${g.me} delivers each of ${s.me}'s messages once`)
        // FIFO per sender across the ordered kinds (unordered ones may pass them).
        const ordered = mine.filter(([, , order]) => order !== 'unordered').map(([, body]) => Number(body.split('/')[1]))
        assert.ok(ordered.every((x, i) => i === 0 || x > ordered[i - 1]), `seed ${seed}: ${g.me} delivers ${s.me}'s ordered messages in FIFO order`)
      }
    }
    const totals = members.map((g) => g.got.filter(([, , order]) => order === 'total').map(([, body]) => body).join(','))
    assert.ok(totals.every((t) => t === totals[0]), `seed ${seed}: one total order`)
    assert.ok(members.some((g) => g.stats().counters.repaired > 0), 'loss was repaired')

    // A late member that no one lists, but that lists everyone, is learned and joins.
    sum = 42
    let given = null
    const late = await join(3, [...peers, `127.0.0.1:${base + 3}`], { getState: () => Uint8Array.of(sum), setState: (s) => { given = s[0] } })
    await until(() => members.every((g) => g.view.members.length === 4), { what: 'a view of 4', timeout: 10000 })
    assert.is(given, 42, 'the joiner got the state')
    members[0].send(new TextEncoder().encode('hello-late'))
    await until(() => late.got.some(([, body]) => body === 'hello-late'), { what: 'the joiner delivers a message of the group' })

    // A member leaves: the others install a view without it.
    const leaver = members.pop()
    await leaver.leave()
    await until(() => members.every((g) => g.view.members.length === 3 && !g.view.members.includes(leaver.me)), { what: 'a view without the leaver' })
  } finally {
    await Promise.all(members.map((g) => g.leave(200).catch(() => {})))
  }
})

test.run()
