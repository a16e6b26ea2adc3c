// A group of log-members on the hosts of a test bed (netns.js), for the
// multi-host tests that form one and check it: the first host starts the
// group, the others join together, each streaming its log (logs.js); then,
// at the end, the members stop, settle and are checked against every
// invariant (the simulator's checker).
import * as assert from 'uvu/assert'
import { fileURLToPath } from 'node:url'
import { checkInvariants } from '../../dist/sim/checker.js'
import { until } from './wait.js'

const script = fileURLToPath(new URL('./log-member.mjs', import.meta.url))
const MS = 1e6

export const lastView = (logs, m) => logs.of(m)?.views.at(-1)?.view

/** Every one of `members` in one view, of exactly their current incarnations. */
export const oneView = (logs, members, what, timeout) =>
  until(() => {
    const views = members.map((m) => lastView(logs, m))
    if (views.some((v) => !v)) return false
    const ids = members.map((m) => logs.of(m).id).sort().join()
    return views.every((v) => v.id === views[0].id && [...v.members].sort().join() === ids)
  }, { timeout, interval: 50, what, detail: () => members.map((m) => `${m.name}: ${lastView(logs, m)?.members.length ?? 'none'}`).join(' ') })

/** Starts a member on each host (`optionsOf(host)`), the first alone, and waits for one view of all; returns the members and how long it took. */
export async function formOn(testbed, logs, group, optionsOf, timeout = 60000) {
  const start = (h) => {
    const m = testbed.start(h, group, h.name, optionsOf(h), script)
    logs.attach(m)
    if (process.env.DEBUG_MH) m.child.on('message', (x) => x.type !== 'log' && process.stdout.write(`${m.name} ${JSON.stringify(x).slice(0, 200)}\n`))
    return m
  }
  const t0 = Date.now()
  const first = start(testbed.hosts[0])
  await first.next((x) => x.type === 'joined', 20000, `${first.name} joined`)
  const members = [first, ...testbed.hosts.slice(1).map(start)]
  await Promise.all(members.slice(1).map((m) => m.next((x) => x.type === 'joined', timeout, `${m.name} joined`)))
  await oneView(logs, members, `one view of ${members.length}`, timeout)
  return { members, formedMs: Date.now() - t0 }
}

/**
 * Loss at every host (`probability` of the UDP each receives) for `ms`, with
 * the members' traffic flowing; then waits until every member delivered
 * every message any of them sent meanwhile. Returns the datagrams dropped.
 */
export async function throughLoss(testbed, logs, members, { probability, ms, timeout }) {
  testbed.loss(probability)
  await new Promise((r) => setTimeout(r, ms)) // the fault's duration, with traffic flowing
  const dropped = testbed.dropped()
  testbed.clearLoss()
  const sentInLoss = members.flatMap((m) => [...logs.of(m).sent])
  const misses = (m) => {
    const got = new Set(logs.of(m).delivered.map((d) => d.key))
    return sentInLoss.filter((k) => !got.has(k)).length
  }
  await until(() => members.every((m) => misses(m) === 0), {
    timeout, interval: 50, what: 'every member to deliver every message sent during the loss',
    detail: () => members.map((m) => `${m.name} misses ${misses(m)}`).join('; '),
  })
  return dropped
}

/**
 * A partition: `cutOff`'s link down until the others hold a view without it
 * (past suspectTimeout); healed, it comes back: one view of all `members`
 * again, it a new incarnation.
 */
export async function cutOffAndBack(testbed, logs, members, cutOff) {
  const before = logs.of(cutOff).id
  testbed.cut(cutOff.host)
  const rest = members.filter((m) => m !== cutOff)
  await until(() => rest.every((m) => lastView(logs, m)?.members.length === rest.length && !lastView(logs, m).members.includes(before)), {
    timeout: 60000, interval: 100, what: `a view of ${rest.length} without ${cutOff.name}` })
  testbed.heal(cutOff.host)
  await oneView(logs, members, `one view of ${members.length} again (${cutOff.name} a new incarnation)`, 60000)
  assert.is.not(logs.of(cutOff).id, before, `${cutOff.name} came back as a new incarnation`)
}

/** SIGKILLs `victim`; the others go on in one view without it. Returns `crashes` (for the checker), the survivors and how long it took. */
export async function killAndGoOn(logs, members, victim) {
  const crashes = [{ id: logs.of(victim).id, atNs: Date.now() * MS }]
  victim.kill()
  victim.ended('crashed')
  const survivors = members.filter((m) => m !== victim)
  await oneView(logs, survivors, `the ${survivors.length} survivors in one view`, 60000)
  return { crashes, survivors, detectedMs: Math.round(Date.now() - crashes[0].atNs / MS) }
}

/** Every member has delivered at least `count` messages of every member. */
export const trafficEverywhere = (logs, members, count, timeout = 30000) =>
  until(() => members.every((m) => members.every((s) => logs.of(m).delivered.filter((d) => d.sender === logs.of(s).id).length >= count)), {
    timeout, interval: 50, what: `${count} messages of every member at every member`,
    detail: () => members.map((m) => `${m.name} lacks ${members.filter((s) => !logs.of(m).delivered.some((d) => d.sender === logs.of(s).id)).map((s) => s.name).join(',') || 'none'}`).join('; '),
  })

/**
 * Stops the members' sending, waits until each delivered the last message of
 * each, and checks every invariant over all the logs (`crashes`: members
 * killed). Returns the members' reports.
 */
export async function settleAndCheck(logs, members, crashes = []) {
  for (const m of members) m.command({ cmd: 'stop' })
  for (const m of members) await m.next((x) => x.type === 'stopped', 20000, `${m.name} stopped`)
  const lacks = (l) => members.map((s) => logs.of(s)).filter((s) => s.sent.length && !l.delivered.some((d) => d.key === s.sent.at(-1)))
  await until(() => members.every((m) => lacks(logs.of(m)).length === 0), { timeout: 30000, interval: 50, what: 'every member to deliver the last message of every member' })
  const reports = await Promise.all(members.map((m) => m.report()))
  for (const [i, m] of members.entries()) logs.of(m).finalState = reports[i].state
  const errors = checkInvariants(logs.all, { crashes, detectionNs: 30000 * MS, excused: [], endNs: Date.now() * MS, settled: true })
  if (errors.length) {
    // What a member lacks of its own: who delivered it, and in which order it was sent.
    const keys = errors.flatMap((e) => [...e.matchAll(/first (\S+)\)/g)].map((m) => m[1]))
    const where = keys.map((k) => `${k}: ${logs.all.filter((l) => l.delivered.some((d) => d.key === k)).map((l) => l.id.split('#')[0]).join(',') || 'nobody'} (${logs.all.flatMap((l) => l.delivered).find((d) => d.key === k)?.order ?? '?'})`)
    assert.unreachable(`${errors.join('\n')}\n${where.join('\n')}\nviews: ${logs.all.map((l) => `${l.id.split('#')[0]} ${l.views.map((v) => v.view.id).join(',')}`).join('; ')}`)
  }
  return reports
}
