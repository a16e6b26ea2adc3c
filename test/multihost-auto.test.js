// transport 'auto' across hosts (network namespaces, netns.js): multicast
// where it works, unicast per member where it does not. Of 4 hosts, h3
// receives no multicast and h4's multicast reaches no one (netfilter); h1 and
// h2 are untouched. The members find each other (h4 and h3 through the
// STATUS every member also sends by unicast), ask for unicast where they do
// not hear multicast, and form one view of 4; traffic in all six orders
// reaches everyone; every invariant holds over the logs; stats() says who
// reaches whom by unicast.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { withTestbed } from './helpers/netns.js'
import { Logs } from './helpers/logs.js'
import { uniqueGroup } from './helpers/wait.js'
import { formOn, settleAndCheck, trafficEverywhere } from './helpers/hostgroup.js'

const PORT = 40000 + ((process.pid + 13) % 20000)
const orders = ['fifo', 'unordered', 'causal', 'total', 'safe', 'fifo', 'total', 'fifo', 'unordered', 'sync']

test("multi-host auto – h3 hears no multicast, h4's reaches no one: one view of 4 over multicast and unicast, every invariant", () =>
  withTestbed(4, async (testbed) => {
    const { hosts } = testbed
    const [, , h3, h4] = hosts
    testbed.blockMulticastAt(h3, 'in')
    testbed.blockMulticastAt(h4, 'out')
    const logs = new Logs()
    const peers = hosts.map((h) => `${h.ip}:${PORT}`)
    const { members, formedMs } = await formOn(testbed, logs, uniqueGroup('mha'), (h) => (
      { transport: 'auto', interface: h.ip, port: PORT, peers, suspectTimeout: 1000, fallbackTimeout: 500, orders }), 30000)
    for (const m of members) m.command({ cmd: 'send', rate: 300 })
    await trafficEverywhere(logs, members, 200)
    const reports = await settleAndCheck(logs, members)
    // Who reaches whom by unicast: everyone reaches h3 so (it hears no multicast); h4 reaches everyone so.
    const routes = Object.fromEntries(members.map((m, i) => [m.name, reports[i].stats.routes]))
    const set = (list) => list.map((id) => id.split('#')[0]).sort().join()
    assert.is(set(routes.h3.unicastIn), 'h1,h2,h4', `h3 asked everyone for unicast: ${JSON.stringify(routes.h3)}`)
    assert.is(set(routes.h4.unicastOut), 'h1,h2,h3', `h4 sends to everyone by unicast: ${JSON.stringify(routes.h4)}`)
    assert.ok(routes.h3.ownByUnicast && routes.h4.ownByUnicast, 'h3 and h4 get their own datagrams back by unicast')
    assert.not.ok(routes.h1.ownByUnicast || routes.h2.ownByUnicast)
    for (const m of ['h1', 'h2']) {
      assert.is(set(routes[m].unicastIn), 'h4', `${m} hears h4 by unicast only`)
      assert.is(set(routes[m].unicastOut), 'h3', `${m} sends to h3 by unicast`)
    }
    const delivered = logs.all.reduce((n, l) => n + l.delivered.length, 0)
    process.stdout.write(`    auto: one view of 4 after ${formedMs} ms; ${delivered} deliveries checked; routes h1 ${JSON.stringify(routes.h1)}\n`)
  }))

test.run()
