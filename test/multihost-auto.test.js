// transport 'auto' across hosts (network namespaces, netns.js): multicast
// where it works, unicast per member where it does not. Of 16 hosts, h11-h13
// receive no multicast and the multicast of h14-h16 reaches no one
// (netfilter); h1-h10 are untouched. The members find each other (the
// cut-off ones through the STATUS every member also sends by unicast), ask
// for unicast where they do not hear multicast, and form one view of 16;
// traffic in all six orders reaches everyone; a deaf member is cut off and
// comes back; a unicast-only member is SIGKILLed and the rest go on; every invariant holds over the logs; stats()
// says exactly who reaches whom by unicast.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { withTestbed } from './helpers/netns.js'
import { Logs } from './helpers/logs.js'
import { uniqueGroup } from './helpers/wait.js'
import { cutOffAndBack, formOn, killAndGoOn, settleAndCheck, trafficEverywhere } from './helpers/hostgroup.js'

const HOSTS = 16
const DEAF = ['h11', 'h12', 'h13'] // receive no multicast
const MUTE = ['h14', 'h15', 'h16'] // their multicast reaches no one
const RATE = 40 // messages per second per member (16 processes share 2 cores)
const PORT = 40000 + ((process.pid + 13) % 20000)
const orders = ['fifo', 'unordered', 'causal', 'total', 'safe', 'fifo', 'total', 'fifo', 'unordered', 'sync']

/** Who `x` must hear by unicast, and send to by unicast, given who is deaf and who is mute. */
function expectedRoutes(x, names) {
  const others = names.filter((y) => y !== x)
  return {
    unicastIn: others.filter((y) => DEAF.includes(x) || MUTE.includes(y)).join(),
    unicastOut: others.filter((y) => DEAF.includes(y) || MUTE.includes(x)).join(),
    ownByUnicast: DEAF.includes(x) || MUTE.includes(x),
  }
}

/** Every member's stats().routes say exactly who it reaches by unicast (routes settle within a fallbackTimeout or two of a change: polled). */
async function routesAsExpected(members, names, when) {
  const set = (list) => list.map((id) => id.split('#')[0]).sort((a, b) => names.indexOf(a) - names.indexOf(b)).join()
  const check = async () => {
    const routes = await Promise.all(members.map((m) => m.report().then((r) => r.stats.routes)))
    return members.map((m, i) => {
      const got = { unicastIn: set(routes[i].unicastIn), unicastOut: set(routes[i].unicastOut), ownByUnicast: routes[i].ownByUnicast }
      return JSON.stringify(got) === JSON.stringify(expectedRoutes(m.name, names)) ? null : `${m.name} (${when}): ${JSON.stringify(got)}, wanted ${JSON.stringify(expectedRoutes(m.name, names))}`
    }).filter(Boolean)
  }
  let wrong = await check()
  const deadline = Date.now() + 10000
  while (wrong.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200)) // polling the members' stats, bounded by the deadline
    wrong = await check()
  }
  assert.equal(wrong, [], wrong.join('\n'))
}

test(`multi-host auto – ${HOSTS} hosts, ${DEAF.length} hear no multicast, ${MUTE.length} reach no one by it: one view over multicast and unicast, a partition healed, a SIGKILL, every invariant`, () =>
  withTestbed(HOSTS, async (testbed) => {
    const { hosts } = testbed
    for (const h of hosts) {
      if (DEAF.includes(h.name)) testbed.blockMulticastAt(h, 'in')
      if (MUTE.includes(h.name)) testbed.blockMulticastAt(h, 'out')
    }
    const logs = new Logs()
    const peers = hosts.map((h) => `${h.ip}:${PORT}`)
    const { members, formedMs } = await formOn(testbed, logs, uniqueGroup('mha'), (h) => (
      { transport: 'auto', interface: h.ip, port: PORT, peers, suspectTimeout: 2000, fallbackTimeout: 500, joinTimeout: 60000, datagramSize: 1472, orders }), 90000)
    for (const m of members) m.command({ cmd: 'send', rate: RATE })
    await trafficEverywhere(logs, members, 5)

    const names = members.map((m) => m.name)
    await routesAsExpected(members, names, 'all 16 there')

    // A partition: a deaf member cut off past suspectTimeout; healed, it comes back (a new incarnation) and is reached by unicast again.
    const cutOff = members.find((m) => m.name === DEAF.at(-1))
    await cutOffAndBack(testbed, logs, members, cutOff)
    await trafficEverywhere(logs, members, 5)

    // A unicast-only member SIGKILLed: the others go on without it.
    const victim = members.find((m) => m.name === MUTE.at(-1))
    const { crashes, survivors, detectedMs } = await killAndGoOn(logs, members, victim)
    await trafficEverywhere(logs, survivors, 10)

    await routesAsExpected(survivors, survivors.map((m) => m.name), `after ${cutOff.name} came back and ${victim.name} died`)
    await settleAndCheck(logs, survivors, crashes)
    const delivered = logs.all.reduce((n, l) => n + l.delivered.length, 0)
    process.stdout.write(`    auto, ${HOSTS} hosts: one view after ${formedMs} ms; routes as expected at every member; ${cutOff.name} cut off and back; SIGKILL of ${victim.name}: a view of ${HOSTS - 1} after ${detectedMs} ms; ${delivered} deliveries checked\n`)
  }))

test.run()
