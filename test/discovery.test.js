// Finding members without multicast (transport 'udp-unicast', discovery.ts):
// by DNS (A and SRV records, from a DNS server the test runs), from a file,
// from a function; and by gossip, so that a member that knows one other finds
// the rest. Lookups that fail are counted and never throw; wrong entries are
// named by the option check.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Group } from '../dist/index.js'
import { defaultEndpoint } from '../dist/options.js'
import { DnsServer } from './helpers/dns-server.js'
import { until, uniqueGroup } from './helpers/wait.js'
import { throwsWith } from './helpers/assert.js'

test("discovery – members found by DNS (A, SRV), a file, a function and gossip alone form one view; every member's messages reach every member", async () => {
  const name = uniqueGroup('discovery')
  const port = defaultEndpoint(name).port
  const ip = (i) => `127.0.0.${11 + i}`
  const dns = new DnsServer({ 'members.troupe.test': [ip(0)], '_troupe._udp.troupe.test': [{ target: 'members.troupe.test', port }] })
  const dnsServer = await dns.listen()
  const dir = mkdtempSync(join(tmpdir(), 'troupe-discovery-'))
  const file = join(dir, 'peers')
  writeFileSync(file, `# the members\n${ip(1)}:${port}\n`)
  const common = { transport: 'udp-unicast', port, dnsServers: [dnsServer], resolveInterval: 200, suspectTimeout: 1000 }
  const specs = [
    { peers: [`${ip(0)}:${port}`] }, // itself: the first member
    { peers: [`dns:members.troupe.test:${port}`] }, // DNS A records: finds m0
    { peers: ['srv:_troupe._udp.troupe.test'] }, // SRV: finds m0
    { peers: [`file:${file}`] }, // the file: m1 only
    { peers: () => [`${ip(2)}:${port}`] }, // a function: m2 only
  ]
  const groups = []
  try {
    for (const [i, spec] of specs.entries()) groups.push(await Group.join(name, { name: `m${i}`, interface: ip(i), ...common, ...spec }))
    await until(() => groups.every((g) => g.view.members.length === 5), { timeout: 20000, what: 'one view of 5', detail: () => groups.map((g) => g.view.members.length).join(' ') })
    const got = groups.map(() => new Set())
    groups.forEach((g, i) => g.on('message', (m) => got[i].add(`${m.sender.split('#')[0]}:${m.text()}`)))
    for (const g of groups) g.send('hi', { order: 'total' })
    await until(() => got.every((s) => s.size === 5), { what: "every member's message at every member" })
    const stats = groups.map((g) => g.stats().discovery)
    assert.ok(stats[1].found >= 1 && stats[2].found >= 1 && stats[3].found >= 1 && stats[4].found >= 1, JSON.stringify(stats))
    assert.ok(stats.every((s) => s.known >= 4), `every member knows the others' addresses (gossip): ${stats.map((s) => s.known)}`)
    assert.ok(stats[0].gossiped >= 4, 'm0 listed itself only: it learned the others by gossip')
    assert.ok(dns.queries >= 2)
    assert.is(stats[1].failures, 0)
  } finally {
    await Promise.all(groups.map((g) => g.leave().catch(() => {})))
    dns.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('discovery – a lookup that fails is counted and kept, never thrown; the member goes on alone, and one started once the name resolves joins it', async () => {
  const name = uniqueGroup('discovery-fail')
  const port = defaultEndpoint(name).port
  const dns = new DnsServer({})
  const dnsServer = await dns.listen()
  const common = { transport: 'udp-unicast', port, dnsServers: [dnsServer], resolveInterval: 100, suspectTimeout: 1000, discovery: 100 }
  const groups = []
  try {
    groups.push(await Group.join(name, { name: 'a', interface: '127.0.0.21', ...common, peers: [`dns:later.troupe.test:${port}`] }))
    await until(() => groups[0].stats().discovery.failures >= 2, { what: 'failed lookups' })
    assert.match(groups[0].stats().discovery.lastError, /later\.troupe\.test|ENOTFOUND|queryA/)
    assert.is(groups[0].view.members.length, 1, 'alone, it formed a group of its own')
    // The name resolves (a pod's address in a headless service): a member started now finds the first and joins it.
    dns.records['later.troupe.test'] = ['127.0.0.21', '127.0.0.22']
    groups.push(await Group.join(name, { name: 'b', interface: '127.0.0.22', ...common, peers: [`dns:later.troupe.test:${port}`] }))
    await until(() => groups.every((g) => g.view.members.length === 2), { timeout: 20000, what: 'the two in one view once the name resolves' })
    await until(() => groups[0].stats().discovery.known >= 1, { what: "the first member to know the second's address (by DNS or gossip)" })
  } finally {
    await Promise.all(groups.map((g) => g.leave().catch(() => {})))
    dns.close()
  }
})

test('discovery – option peers and dnsServers are checked and named', async () => {
  const g = uniqueGroup('discovery-options')
  await throwsWith(() => Group.join(g, { transport: 'udp-unicast', peers: ['dns:bad name:1'] }), RangeError, /option peers\[0\] must be 'ip:port'.*'dns:name:port'/)
  await throwsWith(() => Group.join(g, { transport: 'udp-unicast', peers: ['dns:ok.example:0'] }), RangeError, /option peers\[0\]/)
  await throwsWith(() => Group.join(g, { transport: 'udp-unicast', peers: ['srv:'] }), RangeError, /option peers\[0\]/)
  await throwsWith(() => Group.join(g, { transport: 'udp-unicast', peers: ['file:'] }), RangeError, /option peers\[0\]/)
  await throwsWith(() => Group.join(g, { transport: 'udp-unicast', peers: 'dns:x:1' }), TypeError, /option peers/)
  await throwsWith(() => Group.join(g, { transport: 'udp-unicast', peers: () => [], dnsServers: ['nope'] }), RangeError, /option dnsServers\[0\]/)
  await throwsWith(() => Group.join(g, { transport: 'udp-unicast', peers: () => [], resolveInterval: 5 }), RangeError, /option resolveInterval must be between 100/)
  await throwsWith(() => Group.join(g, { peers: () => [] }), TypeError, /option peers needs transport: 'udp-unicast'/)
})

test.run()
