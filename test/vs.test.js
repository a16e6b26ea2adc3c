// Virtual synchrony with real processes on loopback multicast: members are
// SIGKILLed mid-stream (a plain member, then the coordinator), a late joiner
// gets the state, and the members' own delivery logs are checked against the
// same invariants as the simulator's runs (ts/sim/checker.ts).
//
//   p0 (coordinator) p1 p2 p3   all send
//   SIGKILL p3        -> survivors install a view without it
//   SIGKILL p0        -> p1 takes over as coordinator; a view without p0
//   p4 joins          -> gets the state at the view boundary
//   stop; settle      -> one view, the same messages per view, one state
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { fileURLToPath } from 'node:url'
import { checkInvariants } from '../dist/sim/checker.js'
import { Logs } from './helpers/logs.js'
import { withMembers } from './helpers/procs.js'
import { until, uniqueGroup } from './helpers/wait.js'

const script = fileURLToPath(new URL('./helpers/log-member.mjs', import.meta.url))
const MS = 1e6

const inView = (logs, member, pred, what, timeout = 15000) =>
  until(() => {
    const inc = logs.all.filter((l) => l.member === member).at(-1)
    const v = inc?.views.at(-1)
    return v && pred(v.view.members)
  }, { timeout, what })

test('virtual synchrony – SIGKILL of a member and of the coordinator, a late joiner with state, all six orders mixed: the logs hold every invariant', async () => {
  const logs = new Logs()
  // Every member sends fifo, unordered, causal, total and safe messages in
  // turn, and one message in a hundred is a sync (a barrier).
  const orders = Array.from({ length: 100 }, (_, i) => (i === 50 ? 'sync' : ['fifo', 'unordered', 'causal', 'total', 'safe'][i % 5]))
  const options = { suspectTimeout: 1000, orders }
  await withMembers(uniqueGroup('vs'), [['p0', options]], async ([p0], add) => {
    logs.attach(p0)
    await p0.next((m) => m.type === 'joined', 15000, 'p0 joined')
    const members = [p0]
    for (const name of ['p1', 'p2', 'p3']) {
      const m = add(name, options)
      logs.attach(m)
      await m.next((x) => x.type === 'joined', 15000, `${name} joined`)
      members.push(m)
    }
    const [, p1, p2, p3] = members
    const ids = () => members.map((m) => m.me)
    for (const m of members) await inView(logs, m, (v) => v.length === 4, `${m.name} in a view of 4`)
    for (const m of members) m.command({ cmd: 'send', rate: 2000 })
    await new Promise((r) => setTimeout(r, 500)) // let traffic flow before the first crash (not an event wait: the workload's length)

    const crashes = []
    // A plain member dies mid-stream.
    crashes.push({ id: p3.me, atNs: Date.now() * MS })
    p3.kill()
    p3.ended('crashed')
    for (const m of [p0, p1, p2]) await inView(logs, m, (v) => v.length === 3 && !v.includes(p3.me), `${m.name} in a view without p3`)
    const afterFirst = (Date.now() * MS - crashes[0].atNs) / MS

    // The coordinator dies mid-stream.
    assert.is(logs.all.find((l) => l.member === p1).views.at(-1).view.members[0], p0.me, 'p0 is the coordinator')
    crashes.push({ id: p0.me, atNs: Date.now() * MS })
    p0.kill()
    p0.ended('crashed')
    for (const m of [p1, p2]) await inView(logs, m, (v) => v.length === 2 && !v.includes(p0.me), `${m.name} in a view without p0`)
    const afterSecond = (Date.now() * MS - crashes[1].atNs) / MS

    // A late joiner gets the state.
    const p4 = add('p4', options)
    logs.attach(p4)
    await p4.next((x) => x.type === 'joined', 15000, 'p4 joined')
    members.push(p4)
    for (const m of [p1, p2, p4]) await inView(logs, m, (v) => v.length === 3 && v.includes(p4.me), `${m.name} in a view with p4`)
    p4.command({ cmd: 'send', rate: 2000 })
    await new Promise((r) => setTimeout(r, 300)) // the joiner's traffic mixes with the others' for a while (workload length)

    for (const m of [p1, p2, p4]) m.command({ cmd: 'stop' })
    for (const m of [p1, p2, p4]) await m.next((x) => x.type === 'stopped', 10000, 'stopped')
    // Settle: every survivor has delivered the last message every survivor sent.
    const live = [p1, p2, p4]
    const lastOf = () => live.map((m) => logs.all.filter((l) => l.member === m).at(-1))
    await until(() => {
      const incs = lastOf()
      return incs.every((l) => incs.every((s) => s.sent.length === 0 || l.delivered.some((d) => d.key === s.sent.at(-1))))
    }, { timeout: 20000, what: 'every survivor delivered the last message of every survivor', detail: () =>
      lastOf().map((l) => `${l.id} has ${lastOf().filter((s) => s.sent.length && !l.delivered.some((d) => d.key === s.sent.at(-1))).map((s) => s.sent.at(-1)).join(',') || 'all'}`).join('; ') })
    const reports = await Promise.all(live.map((m) => m.report()))
    for (const [i, m] of live.entries()) logs.all.filter((l) => l.member === m).at(-1).finalState = reports[i].state

    const joiner = logs.all.find((l) => l.member === p4)
    assert.is(joiner.stateBytes, 4, 'the joiner received the state')
    const errors = checkInvariants(logs.all, {
      crashes,
      detectionNs: 15000 * MS, // liveness here; the time a view change takes is measured by troupe bench
      excused: [],
      endNs: Date.now() * MS,
      settled: true,
    })
    assert.equal(errors, [], errors.join('\n'))
    const delivered = logs.all.reduce((n, l) => n + l.delivered.length, 0)
    assert.ok(delivered > 1000, `traffic flowed (${delivered} deliveries)`)
    console.log(`    views without the crashed member after ${afterFirst.toFixed(0)} ms (member) and ${afterSecond.toFixed(0)} ms (coordinator); ${delivered} deliveries checked; state ${reports[0].state.toString(16)} everywhere`)
  }, script)
})

test('failure detection – an event loop blocked for twice suspectTimeout is not suspected (heartbeats come from the I/O thread)', async () => {
  const logs = new Logs()
  const options = { suspectTimeout: 1000 }
  await withMembers(uniqueGroup('busy'), [['b0', options], ['b1', options], ['b2', options]], async (members) => {
    for (const m of members) logs.attach(m)
    for (const m of members) await m.next((x) => x.type === 'joined', 15000, 'joined')
    for (const m of members) await inView(logs, m, (v) => v.length === 3, `${m.name} in a view of 3`)
    const viewsBefore = members.map((m) => logs.all.find((l) => l.member === m).views.length)
    for (const m of members) m.command({ cmd: 'send', rate: 500 })
    members[1].command({ cmd: 'busy', ms: 2000 })
    await members[1].next((x) => x.type === 'unblocked', 10000, 'the busy member back')
    // It catches up with what it missed while stuck, and nobody changed the view.
    const last = () => logs.all.find((l) => l.member === members[0]).sent.at(-1)
    const target = last()
    await until(() => logs.all.find((l) => l.member === members[1]).delivered.some((d) => d.key === target), { timeout: 10000, what: 'the busy member to catch up' })
    const viewsAfter = members.map((m) => logs.all.find((l) => l.member === m).views.length)
    assert.equal(viewsAfter, viewsBefore, 'no view change: nobody was suspected')
    for (const m of members) m.command({ cmd: 'stop' })
  }, script)
})

test('state transfer – a 64 MiB state arrives whole while the others keep delivering', async () => {
  const logs = new Logs()
  const big = 64 << 20
  const options = { bigState: big }
  await withMembers(uniqueGroup('state'), [['s0', options], ['s1', options]], async ([s0, s1], add) => {
    logs.attach(s0)
    logs.attach(s1)
    for (const m of [s0, s1]) await m.next((x) => x.type === 'joined', 15000, 'joined')
    for (const m of [s0, s1]) await inView(logs, m, (v) => v.length === 2, `${m.name} in a view of 2`)
    for (const m of [s0, s1]) m.command({ cmd: 'send', rate: 1000 })
    const delivered = () => logs.all.find((l) => l.member === s1).delivered.filter((d) => d.sender === s0.me).length
    const atStart = delivered()
    const joiner = add('s2', options)
    logs.attach(joiner)
    const inc = () => logs.all.find((l) => l.member === joiner)
    // join() resolves once the state is in (setState has run).
    await until(() => inc()?.stateBytes !== undefined, { timeout: 60000, what: 'the joiner in a view with the 64 MiB state' })
    const duringTransfer = delivered() - atStart
    assert.is(inc().stateBytes, 4 + big)
    assert.is(inc().stateBad, 0, 'every byte of the state as the giver had it')
    assert.ok(duringTransfer > 0, `the others kept delivering during the transfer (${duringTransfer} messages)`)
    // The joiner delivers the new view's messages after setState: it catches up with the stream.
    const s1Last = () => logs.all.find((l) => l.member === s1).delivered.filter((d) => d.sender === s0.me).length
    await until(() => inc().delivered.some((d) => d.sender === s0.me), { timeout: 20000, what: 'the joiner delivering after the state' })
    assert.ok(s1Last() > 0)
    for (const m of [s0, s1]) m.command({ cmd: 'stop' })
  }, script)
})

test.run()
