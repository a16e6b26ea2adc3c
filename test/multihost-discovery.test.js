// Discovery without multicast across hosts (network namespaces, netns.js):
// 16 hosts whose multicast is dropped by netfilter, each member told only a
// DNS name (a DNS server on h1 holds every host's address, as a Kubernetes
// headless service would). They find each other, form one view of 16, send
// in all six orders; one is SIGKILLed and the rest go on; every invariant
// holds over their logs, and no multicast datagram left a host.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { fileURLToPath } from 'node:url'
import { checkInvariants } from '../dist/sim/checker.js'
import { withTestbed } from './helpers/netns.js'
import { Logs } from './helpers/logs.js'
import { until, uniqueGroup } from './helpers/wait.js'

const script = fileURLToPath(new URL('./helpers/log-member.mjs', import.meta.url))
const dnsScript = fileURLToPath(new URL('./helpers/dns-host.mjs', import.meta.url))
const MS = 1e6
const HOSTS = 16
const SUSPECT = 2000
const RATE = 40 // messages per second per member (16 processes share 2 cores)
const PORT = 40000 + ((process.pid + 7) % 20000)
const orders = ['fifo', 'unordered', 'causal', 'total', 'safe', 'fifo', 'total', 'fifo', 'unordered', 'sync']

const lastView = (logs, m) => logs.of(m)?.views.at(-1)?.view
const oneView = (logs, members, what, timeout) =>
  until(() => {
    const views = members.map((m) => lastView(logs, m))
    if (views.some((v) => !v)) return false
    const ids = members.map((m) => logs.of(m).id).sort().join()
    return views.every((v) => v.id === views[0].id && [...v.members].sort().join() === ids)
  }, { timeout, interval: 50, what, detail: () => members.map((m) => `${m.name}: ${lastView(logs, m)?.members.length ?? 'none'}`).join(' ') })

test(`multi-host discovery – ${HOSTS} hosts, multicast dropped, members found by DNS alone: one view, a SIGKILL, every invariant`, () =>
  withTestbed(HOSTS, async (testbed) => {
    const { hosts } = testbed
    testbed.blockMulticast()
    const dns = testbed.start(hosts[0], 'dns', 'dns', { records: { 'members.troupe.test': hosts.map((h) => h.ip) } }, dnsScript)
    const { me: dnsServer } = await dns.next((x) => x.type === 'joined', 10000, 'the DNS server')
    const group = uniqueGroup('mhd')
    const logs = new Logs()
    const options = (h) => ({
      transport: 'udp-unicast', interface: h.ip, port: PORT, peers: [`dns:members.troupe.test:${PORT}`], dnsServers: [dnsServer],
      resolveInterval: 1000, suspectTimeout: SUSPECT, joinTimeout: 60000, datagramSize: 1472, orders,
    })
    const start = (h) => {
      const m = testbed.start(h, group, h.name, options(h), script)
      logs.attach(m)
      if (process.env.DEBUG_MH) m.child.on('message', (x) => x.type !== 'log' && process.stdout.write(`${m.name} ${JSON.stringify(x).slice(0, 200)}\n`))
      return m
    }
    const t0 = Date.now()
    const first = start(hosts[0])
    await first.next((x) => x.type === 'joined', 20000, 'h1 joined')
    const members = [first, ...hosts.slice(1).map(start)]
    await Promise.all(members.slice(1).map((m) => m.next((x) => x.type === 'joined', 90000, `${m.name} joined`)))
    await oneView(logs, members, `one view of ${HOSTS}`, 60000)
    const formedMs = Date.now() - t0
    for (const m of members) m.command({ cmd: 'send', rate: RATE })
    await until(() => members.every((m) => members.every((s) => logs.of(m).delivered.some((d) => d.sender === logs.of(s).id))), {
      timeout: 30000, interval: 100, what: "every member's traffic at every member" })

    // A member SIGKILLed: the others go on in a view without it.
    const victim = members[HOSTS - 1]
    const crashes = [{ id: logs.of(victim).id, atNs: Date.now() * MS }]
    victim.kill()
    victim.ended('crashed')
    const survivors = members.filter((m) => m !== victim)
    await oneView(logs, survivors, `the ${HOSTS - 1} survivors in one view`, 60000)
    const detectedMs = Math.round(Date.now() - crashes[0].atNs / MS)

    for (const m of survivors) m.command({ cmd: 'stop' })
    for (const m of survivors) await m.next((x) => x.type === 'stopped', 20000, `${m.name} stopped`)
    const lacks = (l) => survivors.map((s) => logs.of(s)).filter((s) => s.sent.length && !l.delivered.some((d) => d.key === s.sent.at(-1)))
    await until(() => survivors.every((m) => lacks(logs.of(m)).length === 0), { timeout: 30000, interval: 100, what: 'every survivor to deliver the last message of every survivor' })
    const reports = await Promise.all(survivors.map((m) => m.report()))
    for (const [i, m] of survivors.entries()) logs.of(m).finalState = reports[i].state
    const errors = checkInvariants(logs.all, { crashes, detectionNs: 30000 * MS, excused: [], endNs: Date.now() * MS, settled: true })
    assert.equal(errors, [], errors.join('\n'))
    assert.is(testbed.multicastBlocked(), 0, 'no multicast left a host')
    const found = reports.map((r) => r.stats.discovery)
    // Each was told a DNS name only: each looked it up (what the name gave a member first, or gossip did: the same addresses).
    assert.ok(found.every((d) => d && d.lookups >= 1 && d.failures === 0), `every member looked the name up: ${JSON.stringify(found[0])}`)
    assert.ok(found.reduce((n, d) => n + d.found, 0) >= HOSTS - 1, 'addresses came from DNS')
    const delivered = logs.all.reduce((n, l) => n + l.delivered.length, 0)
    process.stdout.write(`    ${HOSTS} hosts, DNS only: one view after ${formedMs} ms; SIGKILL of ${victim.name}: a view of ${HOSTS - 1} after ${detectedMs} ms; ` +
      `${delivered} deliveries checked; ${found.reduce((n, d) => n + d.lookups, 0)} lookups\n`)
  }))

test.run()
