// Multi-host: four members on four hosts (network namespaces joined by a
// bridge, helpers/netns.js), each bound to its own interface, with faults made
// by the kernel, once per transport. The members' own logs are checked against
// the simulator's invariants (ts/sim/checker.ts), as in vs.test.js.
//
//   h1 h2 h3 h4       h1 starts the group, the others join; all send, all six
//                     orders mixed (one message in a hundred is a sync barrier)
//   5% loss           netfilter drops 5% of the UDP every host receives, 2 s:
//                     every message sent meanwhile is delivered everywhere
//   cut h4            its link goes down: h1 h2 h3 install a view without it,
//                     h4 is 'blocked' (a minority of one)
//   heal              h4 comes back as a new incarnation ('rejoining'), gets
//                     the state: one view of four again
//   SIGKILL coord     the survivors install a view without it
//   stop; settle      one final view; every survivor delivered the messages of
//                     every surviving sender; the logs hold every invariant
//
// And with partitions: 'merge' (a group of its own, on a fresh testbed):
//
//   h1 h2 h3 h4       all send, the orders mixed, a sync barrier in 50
//   split h1h2|h3h4   h3 loses half the membership datagrams it receives, so
//                     that it often misses a barrier's RELEASE (it is sent
//                     again only after a while); once h4 has delivered a
//                     sync message and sent after it, h3 and h4 move to a
//                     bridge of their own: each side installs a view of its
//                     two in a line of its own, and goes on (barriers too)
//   mend              both back on one bridge: a 'merge' at every member that
//                     names the two sides, one view of four; each side kept
//                     its own state; the logs hold every invariant (the sides
//                     delivered different messages while apart)
//
// Needs root (CI runs as root): without network namespaces the test fails
// with the command that was refused. DEBUG_MH=1 prints the members' events.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { fileURLToPath } from 'node:url'
import { checkInvariants } from '../dist/sim/checker.js'
import { withTestbed } from './helpers/netns.js'
import { Logs } from './helpers/logs.js'
import { until, uniqueGroup } from './helpers/wait.js'
import { throughLoss } from './helpers/hostgroup.js'

const script = fileURLToPath(new URL('./helpers/log-member.mjs', import.meta.url))
const MS = 1e6
const SUSPECT = 1000
const RATE = 1000 // messages per second per member
const LOSS_MS = 2000 // how long the loss lasts (the fault's length, not a wait for an event)
const CONTROL_LOSS = 0.5 // of the membership datagrams h3 receives, before the 'merge' scenario's split
const PORT = 40000 + (process.pid % 20000)
const mixed = (every) => Array.from({ length: every }, (_, i) => (i === every / 2 ? 'sync' : ['fifo', 'unordered', 'causal', 'total', 'safe'][i % 5]))
const orders = mixed(100) // one message in a hundred is a sync barrier
const mergeOrders = mixed(50) // barriers twice as often: a split lands in or near one

/** The transports, each with the options that select it for the hosts of a testbed. */
const transports = [
  { name: 'udp-multicast', multicast: true, options: () => ({ transport: 'udp-multicast' }) },
  { name: 'udp-unicast', multicast: false, options: (hosts) => ({ transport: 'udp-unicast', peers: hosts.map((h) => `${h.ip}:${PORT}`) }) },
]

const lastView = (logs, member) => logs.of(member)?.views.at(-1)?.view
const inView = (logs, member, pred, what, timeout = 15000) =>
  until(() => {
    const v = lastView(logs, member)
    return v !== undefined && v.members.includes(logs.of(member).id) && pred(v.members)
  }, { timeout, what: `${member.name} ${what}`, detail: () => JSON.stringify(lastView(logs, member) ?? null) })
/** Every one of `members` in one view, of exactly their current incarnations. */
const oneView = (logs, members, what, timeout = 20000) =>
  until(() => {
    const views = members.map((m) => lastView(logs, m))
    if (views.some((v) => !v)) return false
    const ids = members.map((m) => logs.of(m).id).sort().join()
    return views.every((v) => v.id === views[0].id && [...v.members].sort().join() === ids)
  }, { timeout, what, detail: () => members.map((m) => `${m.name}: ${JSON.stringify(lastView(logs, m) ?? null)}`).join('; ') })
const sum = (reports, counter) => reports.reduce((n, r) => n + r.stats.counters[counter], 0)
const sorted = (ids) => [...ids].sort()

for (const transport of transports) {
  const name = `multi-host (${transport.name}) – 4 hosts: 5% loss, a partition healed by rejoining, SIGKILL of the coordinator; all six orders mixed, the logs hold every invariant`
  test(name, () => withTestbed(4, (testbed) => explained(testbed, () => scenario(transport, testbed))))
}
for (const transport of transports) {
  const name = `multi-host (${transport.name}) – 4 hosts, partitions 'merge': split 2|2 right after a sync barrier, mended: the sides merge into one view; all six orders mixed, the logs hold every invariant`
  test(name, () => withTestbed(4, (testbed) => explained(testbed, () => mergeScenario(transport, testbed))))
}

/**
 * Runs `body`; should it fail, the error also tells what each member still
 * running reports (its view, what it has queued, its non-zero counters).
 */
async function explained(testbed, body) {
  try {
    return await body()
  } catch (err) {
    const running = testbed.members.filter((m) => !m.exited)
    const lines = await Promise.all(running.map((m) => m.report().then(
      (r) => `  ${m.name} ${r.me}: view ${r.view.id} [${r.view.members.join(' ')}], ${r.stats.pendingMessages} queued; ` +
        Object.entries(r.stats.counters).filter(([k, v]) => v !== 0 && !k.startsWith('reject')).map(([k, v]) => `${k} ${v}`).join(', '),
      (e) => `  ${m.name}: no report (${e.message})`)))
    err.message += `\nthe members at the failure:\n${lines.join('\n')}`
    throw err
  }
}

/**
 * A group of four on the hosts of `testbed`, over `transport`, each member
 * streaming its log into `logs`: h1 starts it, the others join together.
 */
async function formGroup(transport, testbed, logs, tag, extra) {
  const group = uniqueGroup(tag)
  const { hosts } = testbed
  const optionsOf = (h) => ({ interface: h.ip, port: PORT, suspectTimeout: SUSPECT, ...extra, ...transport.options(hosts) })
  const start = (h) => {
    const m = testbed.start(h, group, h.name, optionsOf(h), script)
    logs.attach(m)
    if (process.env.DEBUG_MH) m.child.on('message', (x) => x.type !== 'log' && process.stdout.write(`${m.name} ${JSON.stringify(x).slice(0, 300)}\n`))
    return m
  }
  // Unicast fans out to the peers: no multicast may leave a host, so none can help.
  if (!transport.multicast) testbed.blockMulticast()
  const t0 = Date.now()
  const h1 = start(hosts[0])
  await h1.next((x) => x.type === 'joined', 15000, 'h1 joined')
  const members = [h1, ...hosts.slice(1).map(start)]
  await Promise.all(members.slice(1).map((m) => m.next((x) => x.type === 'joined', 20000, `${m.name} joined`)))
  await oneView(logs, members, 'a view of all four')
  return { members, t0, joinedMs: Date.now() - t0 }
}

/**
 * Stops the members' sending and waits until each has delivered the last
 * message of each (`who` names them in messages); returns their reports, with
 * their final states set in the logs.
 */
async function stopAndSettle(logs, members, who) {
  for (const m of members) m.command({ cmd: 'stop' })
  for (const m of members) await m.next((x) => x.type === 'stopped', 10000, `${m.name} stopped`)
  const all = () => members.map((m) => logs.of(m))
  const lacks = (l) => all().filter((s) => s.sent.length && !l.delivered.some((d) => d.key === s.sent.at(-1))).map((s) => s.sent.at(-1))
  await until(() => all().every((l) => lacks(l).length === 0), {
    timeout: 20000, interval: 50, what: `every ${who} to deliver the last message of every ${who}`,
    detail: () => all().map((l) => `${l.id} lacks ${lacks(l).join(',') || 'nothing'}`).join('; '),
  })
  const reports = await Promise.all(members.map((m) => m.report()))
  for (const [i, m] of members.entries()) logs.of(m).finalState = reports[i].state
  return reports
}

/** Every member holds, in its current view, a message that `match` accepts from each of `senders`. */
const trafficInView = (logs, members, senders, match, what) =>
  until(() => members.every((m) => {
    const v = lastView(logs, m)?.id
    return senders.every((s) => logs.of(m).delivered.some((d) => d.view === v && d.sender === logs.of(s).id && match(d)))
  }), { timeout: 10000, interval: 50, what, detail: () => members.map((m) => {
    const v = lastView(logs, m)?.id
    const got = logs.of(m).delivered.filter((d) => d.view === v && match(d))
    return `${m.name} has ${got.length} in view ${v}`
  }).join('; ') })

/** The scenario of the header, over one transport, on the hosts of `testbed`. */
async function scenario(transport, testbed) {
  const logs = new Logs()
  const { members, t0, joinedMs } = await formGroup(transport, testbed, logs, 'mh', { orders })
  const [h1] = members
  for (const m of members) m.command({ cmd: 'send', rate: RATE })

  // (a) Loss: every host drops 5% of the UDP it receives, for a while.
  const before = await Promise.all(members.map((m) => m.report()))
  const dropped = await throughLoss(testbed, logs, members, { probability: 0.05, ms: LOSS_MS, timeout: 20000 })
  const after = await Promise.all(members.map((m) => m.report()))
  assert.ok(dropped > 0, 'netfilter dropped datagrams')
  assert.ok(sum(after, 'naksSent') > sum(before, 'naksSent'), `losses were NAKed (${dropped} datagrams dropped)`)
  const naks = sum(after, 'naksSent') - sum(before, 'naksSent')

  // (b) A partition: h4's link goes down for longer than suspectTimeout.
  const [, h2, h3, h4] = members
  const h4Before = logs.of(h4).id
  const cutAt = Date.now()
  testbed.cut(h4.host)
  for (const m of [h1, h2, h3]) await inView(logs, m, (v) => v.length === 3 && !v.includes(h4Before), 'in a view without h4', 5 * SUSPECT + 10000)
  const excludedMs = Date.now() - cutAt
  // The majority goes on: each of them delivers the others' messages in its new view.
  const majorityView = () => lastView(logs, h1).id
  await until(() => [h1, h2, h3].every((m) => [h1, h2, h3].every((s) => logs.of(m).delivered.some((d) => d.view === majorityView() && d.sender === logs.of(s).id))), {
    timeout: 10000, interval: 50, what: 'traffic among h1 h2 h3 in their view without h4' })
  await h4.next((x) => x.type === 'blocked' && x.blocked, 5 * SUSPECT + 10000, "h4 'blocked' (a minority of one)")
  const healAt = Date.now()
  testbed.heal(h4.host)
  await h4.next((x) => x.type === 'rejoined', 10 * SUSPECT + 10000, "h4 'rejoining' once the link is back")
  await oneView(logs, members, 'a view of all four again (h4 a new incarnation)')
  const rejoinedMs = Date.now() - healAt
  assert.is.not(logs.of(h4).id, h4Before, 'h4 came back as a new incarnation')
  assert.equal(logs.byId.get(h4Before).views.filter((v) => v.atNs > cutAt * MS), [], 'the cut-off h4 installed no view while cut off (a minority)')
  // (Its 'view' may come before the state does; its first messages come after it.)
  await until(() => logs.of(h4).stateBytes !== undefined, { timeout: 10000, what: "h4's new incarnation to receive the state" })
  assert.is(logs.of(h4).stateBytes, 4, 'the state as the giver had it')
  // Its traffic flows again before the next fault.
  await until(() => members.every((m) => logs.of(m).delivered.some((d) => d.sender === logs.of(h4).id)), { timeout: 10000, interval: 50, what: "everyone delivering h4's new incarnation" })

  // (c) The coordinator is SIGKILLed mid-stream.
  const coordinatorId = lastView(logs, h1).members[0]
  const victim = members.find((m) => logs.of(m).id === coordinatorId)
  const survivors = members.filter((m) => m !== victim)
  const crashes = [{ id: coordinatorId, atNs: Date.now() * MS }]
  victim.kill()
  victim.ended('crashed')
  await oneView(logs, survivors, `the survivors in a view without the coordinator ${victim.name}`)
  const detectedMs = Math.round(Date.now() - crashes[0].atNs / MS)
  // Every survivor delivers every survivor's traffic in the final view.
  const finalView = () => lastView(logs, survivors[0]).id
  await until(() => survivors.every((m) => survivors.every((s) => logs.of(m).delivered.some((d) => d.view === finalView() && d.sender === logs.of(s).id))), {
    timeout: 10000, interval: 50, what: 'traffic from every survivor in the final view' })

  // Stop, and settle: every survivor has the last message of every survivor.
  const reports = await stopAndSettle(logs, survivors, 'survivor')
  const live = () => survivors.map((m) => logs.of(m))

  // One final view, of the survivors.
  const ids = survivors.map((m) => logs.of(m).id).sort()
  for (const r of reports) {
    assert.is(r.view.id, reports[0].view.id, 'the survivors end in one view')
    assert.equal([...r.view.members].sort(), ids, 'the final view holds exactly the survivors')
  }
  // Every survivor delivered every message a surviving sender sent in a view they shared.
  for (const a of live()) {
    const got = new Set(a.delivered.map((d) => d.key))
    for (const b of live()) {
      const shared = new Set(b.views.filter((v) => v.view.members.includes(a.id)).map((v) => v.view.id))
      const missing = b.delivered.filter((d) => d.sender === b.id && shared.has(d.view) && !got.has(d.key))
      assert.is(missing.length, 0, `${a.id} misses ${missing.length} messages of ${b.id} (first ${missing[0]?.key})`)
    }
  }
  const errors = checkInvariants(logs.all, {
    crashes,
    detectionNs: 15000 * MS, // liveness here; how fast a view changes is measured by troupe bench
    excused: [],
    endNs: Date.now() * MS,
    settled: true,
  })
  assert.equal(errors, [], errors.join('\n'))
  const delivered = logs.all.reduce((n, l) => n + l.delivered.length, 0)
  if (!transport.multicast) assert.is(testbed.multicastBlocked(), 0, 'no multicast left a host')
  assert.ok(delivered > 10000, `traffic flowed (${delivered} deliveries)`)
  process.stdout.write(`    ${transport.name}: one view of 4 after ${joinedMs} ms; loss: ${dropped} datagrams dropped, ${naks} NAKs; ` +
    `cut: a view without h4 after ${excludedMs} ms, h4 back ${rejoinedMs} ms after the heal; SIGKILL of ${victim.name}: a view without it after ${detectedMs} ms; ` +
    `${delivered} deliveries checked; state ${reports[0].state.toString(16)} everywhere; ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
}

/** The 'merge' scenario of the header, over one transport, on the hosts of `testbed`. */
async function mergeScenario(transport, testbed) {
  const logs = new Logs()
  const { members, t0, joinedMs } = await formGroup(transport, testbed, logs, 'mhm', { orders: mergeOrders, partitions: 'merge' })
  const [h1, h2, h3, h4] = members
  const sides = [[h1, h2], [h3, h4]]
  const idsOf = (side) => sorted(side.map((m) => logs.of(m).id))
  const lineOf = (m) => logs.of(m).views.at(-1)
  for (const m of members) m.command({ cmd: 'send', rate: RATE })
  // Barriers are flowing: everyone has delivered a sync message of everyone.
  await trafficInView(logs, members, members, (d) => d.order === 'sync', 'a sync message of every member at every member, in the view of four')

  // (a) The split, right after a barrier. The window that matters: a barrier's
  // RELEASE reached h4, which delivered the barrier and sent on, but not h3,
  // which still holds the barrier's cut when its side's flush comes
  // (FlushCut.apply, node/cut.ts). Losing half the CONTROL datagrams it receives, h3 often
  // waits for a RELEASE to be sent again (after retry: 50 ms here) while h4
  // goes on. (Before that was fixed, about 1 run of this scenario in 3 broke
  // the sync cut and the total order between h3 and h4.)
  testbed.controlLoss(h3.host, CONTROL_LOSS)
  const split = testbed.prepareSplit(sides[1].map((m) => m.host))
  h4.command({ cmd: 'watchSync' })
  const synced = await h4.next((x) => x.type === 'synced', 10000, 'h4 to deliver a sync message and send after it')
  await split()
  const splitAt = Date.now()
  const splitLagMs = splitAt - synced.at // from h4's first send after the barrier to both ports moved
  const controlDropped = testbed.controlDropped()
  testbed.clearLoss()
  for (const side of sides) {
    const ids = idsOf(side)
    for (const m of side) await inView(logs, m, (v) => sorted(v).join() === ids.join(), `in a view of its side [${side.map((s) => s.name)}]`, 5 * SUSPECT + 10000)
  }
  const apartMs = Date.now() - splitAt
  // Each side is in a line of its own (neither holds a majority of the view of four).
  const [lineA, lineB] = sides.map((side) => side.map(lineOf))
  for (const line of [lineA, lineB]) assert.is(line[0].founder, line[1].founder, 'the members of a side are in one line')
  assert.is.not(lineA[0].founder, lineB[0].founder, 'the sides are in different lines')
  // Both go on apart, barriers included.
  for (const side of sides) {
    await trafficInView(logs, side, side, () => true, `traffic within [${side.map((s) => s.name)}] in its own view`)
    await trafficInView(logs, side, side.slice(0, 1), (d) => d.order === 'sync', `a sync barrier within [${side.map((s) => s.name)}] in its own view`)
  }
  assert.ok(!members.some((m) => m.messages.some((x) => x.type === 'blocked')), "no side 'blocked' (merge: every side goes on)")

  // (b) Mend: both sides on one bridge again. They merge into one view.
  const mendAt = Date.now()
  testbed.mend()
  const merges = await Promise.all(members.map((m) => m.next((x) => x.type === 'merge', 10 * SUSPECT + 10000, `${m.name}: a 'merge'`))).catch((err) => {
    // Each member's views (id, line, members), for what went another way.
    const history = members.map((m) => `  ${m.name}: ${logs.of(m).views.map((v) => `${v.view.id}@${v.founder.split('#')[0]}[${v.view.members.map((x) => x.split('#')[0]).join(',')}]`).join(' ')}` +
      `; merges ${JSON.stringify(logs.of(m).merges.map((x) => x.view))}`)
    err.message += `\nviews:\n${history.join('\n')}`
    throw err
  })
  await oneView(logs, members, 'one view of all four after the merge')
  const mergedMs = Date.now() - mendAt
  const merged = lastView(logs, h1)
  const wantSides = sorted(sides.map((side) => idsOf(side).join())).join(' | ')
  for (const [i, m] of members.entries()) {
    assert.is(merges[i].view, merged.id, `${m.name}: the 'merge' is of the view of four`)
    assert.is(sorted(merges[i].sides.map((side) => sorted(side).join())).join(' | '), wantSides, `${m.name}: the 'merge' names the two sides`)
  }
  assert.is(logs.all.length, 4, 'no member rejoined (one incarnation each)')
  await trafficInView(logs, members, members, () => true, 'traffic from every member at every member in the merged view')
  await trafficInView(logs, members, members.slice(0, 1), (d) => d.order === 'sync', 'a sync barrier in the merged view')

  // Stop, and settle: every member has the last message of every member.
  const reports = await stopAndSettle(logs, members, 'member')
  const all = () => members.map((m) => logs.of(m))
  for (const r of reports) assert.is(r.view.id, reports[0].view.id, 'one final view')
  // Each side kept its own state (the sum over what it delivered): its members agree.
  for (const side of sides) {
    const states = side.map((m) => reports[members.indexOf(m)].state)
    assert.is(states[0], states[1], `the members of [${side.map((s) => s.name)}] agree on the state`)
  }
  const apart = all().reduce((n, l) => {
    const side = new Set(l.views.filter((v) => v.view.members.length === 2).map((v) => v.view.id))
    return n + l.delivered.filter((d) => side.has(d.view)).length
  }, 0)
  assert.ok(apart > 0, 'the sides delivered messages while apart')
  const errors = checkInvariants(logs.all, {
    crashes: [],
    detectionNs: 15000 * MS,
    excused: [],
    endNs: Date.now() * MS,
    settled: true,
    oneState: false, // the sides delivered different messages while apart
  })
  assert.equal(errors, [], errors.join('\n'))
  const delivered = logs.all.reduce((n, l) => n + l.delivered.length, 0)
  const syncs = logs.all.reduce((n, l) => n + l.delivered.filter((d) => d.order === 'sync').length, 0)
  if (!transport.multicast) assert.is(testbed.multicastBlocked(), 0, 'no multicast left a host')
  process.stdout.write(`    ${transport.name}, merge: one view of 4 after ${joinedMs} ms; split ${splitLagMs} ms after h4 delivered sync ${synced.key} ` +
    `and sent ${synced.sent} (view ${synced.view}; ${controlDropped} CONTROL datagrams to h3 dropped); a view per side after ${apartMs} ms (lines ${lineA[0].founder}, ${lineB[0].founder}); merged ${mergedMs} ms after the mend ` +
    `(view ${merged.id}); ${apart} deliveries apart, ${delivered} in all (${syncs} sync); states ${reports[0].state.toString(16)}, ${reports[2].state.toString(16)}; ` +
    `${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
}

test.run()
