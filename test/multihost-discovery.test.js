// Discovery without multicast across hosts (network namespaces, netns.js):
// 16 hosts whose multicast is dropped by netfilter, each member told only a
// DNS name (a DNS server on h1 holds every host's address, as a Kubernetes
// headless service would). They find each other, form one view of 16, send
// in all six orders through 5% loss at every host; one is cut off (a
// partition) and comes back; one is SIGKILLed and the rest go on; every
// invariant holds over their logs, and no multicast datagram left a host.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { fileURLToPath } from 'node:url'
import { withTestbed } from './helpers/netns.js'
import { Logs } from './helpers/logs.js'
import { uniqueGroup } from './helpers/wait.js'
import { cutOffAndBack, formOn, killAndGoOn, throughLoss, settleAndCheck, trafficEverywhere } from './helpers/hostgroup.js'

const dnsScript = fileURLToPath(new URL('./helpers/dns-host.mjs', import.meta.url))
const HOSTS = 16
const SUSPECT = 2000
const RATE = 40 // messages per second per member (16 processes share 2 cores)
const LOSS_MS = 1500 // how long the loss lasts (the fault's length, not a wait for an event)
const PORT = 40000 + ((process.pid + 7) % 20000)
const orders = ['fifo', 'unordered', 'causal', 'total', 'safe', 'fifo', 'total', 'fifo', 'unordered', 'sync']

test(`multi-host discovery – ${HOSTS} hosts, multicast dropped, members found by DNS alone: one view, 5% loss, a partition healed, a SIGKILL, every invariant`, () =>
  withTestbed(HOSTS, async (testbed) => {
    const { hosts } = testbed
    testbed.blockMulticast()
    const dns = testbed.start(hosts[0], 'dns', 'dns', { records: { 'members.troupe.test': hosts.map((h) => h.ip) } }, dnsScript)
    const { me: dnsServer } = await dns.next((x) => x.type === 'joined', 10000, 'the DNS server')
    const group = uniqueGroup('mhd')
    const logs = new Logs()
    const { members, formedMs } = await formOn(testbed, logs, group, (h) => ({
      transport: 'udp-unicast', interface: h.ip, port: PORT, peers: [`dns:members.troupe.test:${PORT}`], dnsServers: [dnsServer],
      resolveInterval: 1000, suspectTimeout: SUSPECT, joinTimeout: 60000, datagramSize: 1472, orders,
    }), 90000)
    for (const m of members) m.command({ cmd: 'send', rate: RATE })
    await trafficEverywhere(logs, members, 1)

    // 5% loss at every host, for a while: everything sent meanwhile reaches everyone.
    const dropped = await throughLoss(testbed, logs, members, { probability: 0.05, ms: LOSS_MS, timeout: 30000 })
    assert.ok(dropped > 0, 'netfilter dropped datagrams')

    // A partition: h15's link down for longer than suspectTimeout; the others go on; healed, it comes back.
    const cutOff = members[HOSTS - 2]
    await cutOffAndBack(testbed, logs, members, cutOff)

    // A member SIGKILLed: the others go on in a view without it.
    const victim = members[HOSTS - 1]
    const { crashes, survivors, detectedMs } = await killAndGoOn(logs, members, victim)

    const reports = await settleAndCheck(logs, survivors, crashes)
    assert.is(testbed.multicastBlocked(), 0, 'no multicast left a host')
    const found = reports.map((r) => r.stats.discovery)
    // Each was told a DNS name only: each looked it up (what the name gave a member first, or gossip did: the same addresses).
    // (Under the loss and while cut off, some lookups time out: counted, and looked up again.)
    assert.ok(found.every((d) => d && d.lookups >= 1 && d.lookups > d.failures), `every member looked the name up: ${JSON.stringify(found)}`)
    assert.ok(found.reduce((n, d) => n + d.found, 0) >= HOSTS - 1, 'addresses came from DNS')
    const delivered = logs.all.reduce((n, l) => n + l.delivered.length, 0)
    process.stdout.write(`    ${HOSTS} hosts, DNS only: one view after ${formedMs} ms; 5% loss: ${dropped} datagrams dropped, all repaired; ${cutOff.name} cut off and back; SIGKILL of ${victim.name}: a view of ${HOSTS - 1} after ${detectedMs} ms; ` +
      `${delivered} deliveries checked; ${found.reduce((n, d) => n + d.lookups, 0)} lookups, ${found.reduce((n, d) => n + d.failures, 0)} failed\n`)
  }))

test.run()
