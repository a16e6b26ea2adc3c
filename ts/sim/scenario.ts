// One simulated run from a seed: members join at random times, send, crash,
// restart, leave, get partitioned and healed, over a lossy, duplicating,
// reordering network; then the faults stop, the run settles, and the
// invariant checker reads every incarnation's log.
import { OrderCode } from '../boundary.js'
import { checkInvariants, type Log } from './checker.js'
import { Random } from './random.js'
import { World, type WorldConfig } from './world.js'

const MS = 1e6

export interface RunOptions {
  /** Simulated time with faults and traffic (ms). */
  activeMs?: number
  /** Quiet time at the end for everything to settle (ms). */
  settleMs?: number
  members?: number
  /** The largest datagram (default 1,024: the membership's messages come in pieces beyond a few members). */
  datagramSize?: number
  faults?: boolean
  /** Default: 'merge' for every third seed, else 'primary'. */
  partitions?: 'primary' | 'merge'
}

export interface RunResult {
  seed: number
  errors: string[]
  summary: string
  incarnations: number
  views: number
  delivered: number
  datagrams: number
  /** Building-block operations applied and locks granted, summed over the incarnations alive at the end. */
  blocks: { applied: number; grants: number }
}

/** The simulated group's timings and sizes, for `members` (0: a few) at `datagramSize`. */
function worldConfig(seed: number, members: number, datagramSize: number, partitions: 'primary' | 'merge'): WorldConfig {
  return {
    seed, datagramSize, windowBytes: Math.max(64 * 1024, 4 * datagramSize), suspectTimeoutMs: 300, statusIntervalMs: 10, retryMs: 20, tickMs: 5, partitions,
    // Every member's core lives in this one process: beyond 64 members, smaller windows per sender.
    ...(members > 64 ? { receiveSlots: 1024, retainBytes: 16 * 1024 } : {}),
  }
}

export function runSeed(seed: number, options: RunOptions = {}): RunResult {
  const config = worldConfig(seed, options.members ?? 0, options.datagramSize ?? 1024, options.partitions ?? (seed % 3 === 0 ? 'merge' : 'primary'))
  const w = new World(config)
  const r = w.random
  const faults = options.faults ?? true
  const n = options.members ?? r.int(3, 5)
  // Larger groups: each member sends as much less often, so the group's traffic stays what 5 members make.
  const spread = Math.max(1, n / 5)
  const activeNs = (options.activeMs ?? 3000) * MS
  const endNs = activeNs + (options.settleMs ?? 2500) * MS
  const story: string[] = []
  const say = (s: string) => story.push(`${(w.nowNs / MS).toFixed(0)}ms ${s}`)

  if (faults) {
    w.faults = { loss: r.next() * 0.05, duplicate: r.next() * 0.03, delayNs: 30_000, jitterNs: r.int(0, 500) * 1000 }
  }
  const loss = w.faults.loss
  for (let i = 0; i < n; i++) {
    const node = w.addNode(`m${i}`)
    w.at(i === 0 ? 0 : r.int(0, 400) * MS, () => {
      node.start()
      say(`${node.inc.id} starts`)
    })
  }

  // Traffic: every member sends now and then while it is in a view.
  for (const node of w.nodes) {
    const every = r.int(2, 12) * MS * spread
    const big = r.chance(0.5)
    const loop = () => {
      if (w.nowNs >= activeNs) return
      if (node.alive && node.member.joined) {
        const size = big && r.chance(0.05) ? r.int(1500, 9000) : r.int(8, 200)
        // unordered, fifo or total
        const x = r.next()
        node.send(size, x < 0.01 ? 5 : x < 0.1 ? 0 : x < 0.3 ? 3 : x < 0.45 ? 4 : x < 0.65 ? 2 : 1)
      }
      w.at(w.nowNs + every + r.int(0, 3) * MS, loop)
    }
    w.at(r.int(0, 10) * MS, loop)
  }

  // The building blocks: members ask for and release locks and change the
  // counter now and then (drawn apart from the run's own random, as stalls are).
  const ops = new Random(seed * 104729 + 31)
  for (const node of w.nodes) {
    const every = ops.int(5, 25) * MS * spread
    const loop = () => {
      if (w.nowNs >= activeNs) return
      node.blockOp(ops)
      w.at(w.nowNs + every + ops.int(0, 5) * MS, loop)
    }
    w.at(ops.int(0, 20) * MS, loop)
  }

  // Faults: crashes (never a majority), restarts, a leave, a partition.
  const crashes: { id: string; atNs: number }[] = []
  const excused: { fromNs: number; toNs: number }[] = []
  const detectionNs = 2 * config.suspectTimeoutMs * MS
  if (faults) {
    const maxDown = Math.floor((n - 1) / 2)
    let down = 0
    const events = r.int(1, 3)
    for (let e = 0; e < events; e++) {
      const at = r.int(600, Math.max(700, activeNs / MS - 700)) * MS
      const kind = r.pick(['crash', 'crash', 'crash', 'leave', 'partition'] as const)
      w.at(at, () => {
        const alive = w.nodes.filter((x) => x.alive && x.member.joined)
        if (alive.length < 2) return
        // Never take away a majority of the current view (a primary-partition
        // group would rightly stop): count the members of the newest view
        // that are still alive and would stay.
        const newest = alive.map((x) => x.member.currentView!).reduce((a, b) => (b.id > a.id ? b : a))
        const up = (id: string) => w.nodes.some((x) => x.alive && x.inc.id === id)
        const staying = newest.members.filter(up).length - 1
        if (kind === 'crash' && down < maxDown && staying * 2 > newest.members.length) {
          // Sometimes the coordinator, sometimes anyone.
          const coordinator = alive[0]!.member.currentView?.coordinator
          const victim = r.chance(0.4) ? (alive.find((x) => x.inc.id === coordinator) ?? r.pick(alive)) : r.pick(alive)
          down++
          say(`crash ${victim.inc.id}`)
          crashes.push({ id: victim.inc.id, atNs: w.nowNs })
          victim.crash()
          if (r.chance(0.6)) {
            w.at(w.nowNs + r.int(100, 800) * MS, () => {
              down--
              victim.start()
              say(`restart as ${victim.inc.id}`)
            })
          }
        } else if (kind === 'leave' && down < maxDown && staying * 2 > newest.members.length) {
          const leaver = r.pick(alive)
          say(`${leaver.inc.id} leaves`)
          down++
          leaver.leave()
        } else if (kind === 'partition' && maxDown > 0 && staying * 2 > newest.members.length) {
          const size = r.int(1, Math.min(maxDown, newest.members.length - Math.floor(newest.members.length / 2) - 1 || 1))
          const cut = new Set<number>()
          while (cut.size < size) cut.add(r.int(0, n - 1))
          w.sides = w.nodes.map((_, i) => (cut.has(i) ? 1 : 0))
          const length = r.int(2, 4) * config.suspectTimeoutMs * MS
          say(`partition {${[...cut].map((i) => w.nodes[i]!.name).join(',')}} for ${(length / MS).toFixed(0)} ms`)
          excused.push({ fromNs: w.nowNs, toNs: w.nowNs + length + detectionNs })
          w.at(w.nowNs + length, () => {
            w.sides = w.nodes.map(() => 0)
            say('partition healed')
          })
        }
      })
    }
    // Sometimes the coordinator dies in the middle of a flush: as it sends a
    // CUT (kind 7) or an INSTALL (kind 9), or soon after; or it ends a
    // barrier with a RELEASE (kind 15) that reaches only some members, and
    // dies before it sends it again, while those that got it send on.
    if (r.chance(0.35)) {
      const kind = r.pick([7, 9, 15])
      let armed = true
      w.onControlSent = (node, k) => {
        if (!armed || k !== kind || w.nowNs >= activeNs - 700 * MS || !node.alive || !node.member.joined) return
        const view = node.member.currentView!
        const up = (id: string) => w.nodes.some((x) => x.alive && x.inc.id === id)
        if ((view.members.filter(up).length - 1) * 2 <= view.members.length) return // it would take the majority with it
        armed = false
        const victim = node
        let delayMs = r.int(0, 3)
        if (kind === 15) {
          const others = w.nodes.filter((x) => x !== victim && x.alive && view.members.includes(x.inc.id))
          const missing = new Set(others.filter(() => r.chance(0.5)).map((x) => x.index))
          w.lostLink = (from, to) => from === victim.index && missing.has(to)
          delayMs = r.int(2, 15)
          say(`${victim.inc.id} releases a barrier to all but {${others.filter((x) => missing.has(x.index)).map((x) => x.name).join(',')}}`)
        }
        w.at(w.nowNs + delayMs * MS, () => {
          w.lostLink = null
          if (!victim.alive) return
          // Still no majority lost, in the newest view (a leave may have just shrunk it)?
          const alive = w.nodes.filter((x) => x.alive && x.member.joined)
          const newest = alive.map((x) => x.member.currentView!).reduce((a, b) => (b.id > a.id ? b : a))
          if ((newest.members.filter(up).length - 1) * 2 <= newest.members.length) return
          say(`crash ${victim.inc.id} mid-flush (after sending ${kind === 7 ? 'CUT' : kind === 9 ? 'INSTALL' : 'RELEASE'})`)
          crashes.push({ id: victim.inc.id, atNs: w.nowNs })
          victim.crash()
        })
      }
    }
    // Sometimes a member's JS stalls (a long GC pause, a busy event loop)
    // while its core goes on: the coordinator (the sequencer) or anyone.
    // Drawn apart from the run's own random, so the other faults of a seed
    // stay as they were.
    const stalls = new Random(seed * 7919 + 17)
    if (stalls.chance(0.3)) {
      const at = stalls.int(400, Math.max(500, activeNs / MS - 500)) * MS
      const ms = stalls.int(50, 500)
      const coordinator = stalls.chance(0.5)
      w.at(at, () => {
        const alive = w.nodes.filter((x) => x.alive && x.member.joined)
        if (alive.length === 0) return
        const id = alive[0]!.member.currentView?.coordinator
        const victim = (coordinator ? alive.find((x) => x.inc.id === id) : undefined) ?? alive[stalls.int(0, alive.length - 1)]!
        say(`${victim.inc.id} stalls for ${ms} ms`)
        victim.stall(ms)
        // A view change needs every member's JS: a crash meanwhile is seen late.
        excused.push({ fromNs: w.nowNs - detectionNs, toNs: w.nowNs + ms * MS + detectionNs })
      })
    }
    // The faults of the network stop before the end, so that the run settles.
    w.at(activeNs, () => {
      w.faults = { loss: 0, duplicate: 0, delayNs: 30_000, jitterNs: 0 }
      w.sides = w.nodes.map(() => 0)
    })
  }

  try {
    w.run(endNs)
  } catch (err) {
    w.dispose()
    return { seed, errors: [(err as Error).message], incarnations: w.incarnations.length, views: 0, delivered: 0, datagrams: w.datagrams, blocks: { applied: 0, grants: 0 }, summary: story.join('\n  ') }
  }

  const logs: Log[] = w.incarnations.map((inc) => {
    const node = w.nodes[inc.node]!
    const live = inc.end === 'running' && node.inc === inc
    return { ...inc, ...(live ? { finalState: `${node.state} ${node.blocks.digest()}`, finalMap: node.blocks.mapDigest() } : {}) }
  })
  // In 'merge' mode the sides deliver different messages while apart and keep
  // their own state (reconciling is the application's): no one-state check.
  const errors = checkInvariants(logs, { crashes, detectionNs, excused, endNs, settled: true, oneState: config.partitions === 'primary' })
  const blocks = { applied: 0, grants: 0 }
  for (const node of w.nodes) {
    if (!node.alive) continue
    blocks.applied += node.blocks.applied
    blocks.grants += node.blocks.grants
  }
  w.dispose()
  let delivered = 0
  for (const l of logs) delivered += l.delivered.length
  const views = new Set(logs.flatMap((l) => l.views.map((v) => v.view.id))).size
  return {
    seed, errors, incarnations: logs.length, views, delivered, datagrams: w.datagrams, blocks,
    summary: `${n} members, ${config.partitions} partitions, loss ${(loss * 100).toFixed(1)}%\n  ${story.join('\n  ')}`,
  }
}

export interface StallResult extends RunResult {
  /** Times the sender's messages waited for order credit. */
  creditWaits: number
  /** The most bytes of the sender's own total messages that waited for their place at once. */
  maxOrderedBytes: number
  /** The sender's messages sent, and those of them it delivered. */
  sent: number
  sentDelivered: number
}

/**
 * The sequencer stalls: three members, m1 sends 1 KB total messages as fast
 * as it may, and m0 (the coordinator, so the sequencer) has its JS stalled
 * for `stallMs` while its core goes on acking. No ORDER records come, so m1's
 * own messages wait for their place and its order credit (2 windows) holds it
 * back; after the stall everything is placed and delivered.
 */
export function runSequencerStall(seed: number, stallMs = 300): StallResult {
  const config: WorldConfig = {
    seed, datagramSize: 1024, windowBytes: 64 * 1024, suspectTimeoutMs: 1000, statusIntervalMs: 10, retryMs: 20, tickMs: 5, partitions: 'primary',
  }
  const w = new World(config)
  const story: string[] = []
  const say = (s: string) => story.push(`${(w.nowNs / MS).toFixed(0)}ms ${s}`)
  const [m0, m1] = [w.addNode('m0'), w.addNode('m1'), w.addNode('m2')].map((node, i) => {
    w.at(i * 50 * MS, () => node.start())
    return node
  }) as [ReturnType<World['addNode']>, ReturnType<World['addNode']>]
  const sendFromNs = 600 * MS, stallAtNs = 800 * MS, sendToNs = 1600 * MS, endNs = 5000 * MS
  let maxOrderedBytes = 0
  const send = () => {
    if (w.nowNs >= sendToNs) return
    for (let i = 0; i < 4; i++) m1.send(1000, OrderCode.total)
    maxOrderedBytes = Math.max(maxOrderedBytes, m1.outbox.orderedBytes)
    w.at(w.nowNs + 1 * MS, send)
  }
  w.at(sendFromNs, () => {
    say(`m1 sends 4 total messages of 1000 B a millisecond until ${sendToNs / MS} ms; the view is ${m0.member.currentView?.members.length} members`)
    send()
  })
  w.at(stallAtNs, () => {
    say(`m0 (${m0.member.currentView?.coordinator === m0.inc.id ? 'the coordinator' : 'not the coordinator'}) stalls for ${stallMs} ms`)
    m0.stall(stallMs)
  })
  w.run(endNs)
  const logs: Log[] = w.incarnations.map((inc) => ({ ...inc, ...(inc.end === 'running' ? { finalState: w.nodes[inc.node]!.state } : {}) }))
  const errors = checkInvariants(logs, { crashes: [], detectionNs: 2 * config.suspectTimeoutMs * MS, excused: [], endNs, settled: true, oneState: true })
  const sender = m1.inc
  const own = new Set(sender.delivered.filter((d) => d.sender === sender.id).map((d) => d.key))
  const result: StallResult = {
    seed, errors, incarnations: logs.length, views: new Set(logs.flatMap((l) => l.views.map((v) => v.view.id))).size,
    delivered: logs.reduce((n, l) => n + l.delivered.length, 0), datagrams: w.datagrams, blocks: { applied: 0, grants: 0 }, summary: story.join('\n  '),
    creditWaits: m1.outbox.creditWaits, maxOrderedBytes, sent: sender.sent.length, sentDelivered: sender.sent.filter((k) => own.has(k)).length,
  }
  w.dispose()
  return result
}

export interface ScaleResult {
  members: number
  errors: string[]
  /** Simulated ms: m0 alone, then every other member joins at once, until all hold one view of all. */
  formMs: number
  /** Simulated ms from a member's crash until every other holds a view without it (suspectTimeout 300 ms of it). */
  crashMs: number
  /** Simulated ms from a member's leave() until every other holds a view without it. */
  leaveMs: number
  /** STATUS datagrams one member reads a simulated second, in one view of all, steady (every member sends one to the group per its STATUS interval). */
  statusPerMemberS: number
  /** Real time the run took (ms). */
  wallMs: number
}

/**
 * How view changes take longer as the group grows: `n` members (m0 first,
 * the others joining together 20 ms later) over a quiet network, a fifo
 * message from each every so often; a second steady (the STATUS a member
 * reads are counted); a crash, then a leave. Simulated times.
 */
export function runScale(n: number, datagramSize = 1024, seed = 1): ScaleResult {
  const started = Date.now()
  const config = worldConfig(seed, n, datagramSize, 'primary')
  const w = new World(config)
  const nodes = Array.from({ length: n }, (_, i) => w.addNode(`m${i}`))
  nodes.forEach((node, i) => w.at(i === 0 ? 0 : 20 * MS, () => node.start()))
  const viewOf = (node: (typeof nodes)[number]) => (node.alive ? node.member.currentView : null)
  const allIn = (group: typeof nodes, size: number) => group.every((x) => viewOf(x)?.members.length === size && viewOf(x)!.id === viewOf(group[0]!)!.id)
  const result: ScaleResult = { members: n, errors: [], formMs: -1, crashMs: -1, leaveMs: -1, statusPerMemberS: -1, wallMs: 0 }
  const STEADY_NS = 1000 * MS
  const statusSent = () => nodes.reduce((sum, x) => sum + (x.alive ? x.core.counters().statusSent! : 0), 0)
  let statusAtForm = 0
  const crashes: { id: string; atNs: number }[] = []
  let phase = 'form'
  let since = 0
  const check = () => {
    if (phase === 'form' && allIn(nodes, n)) {
      result.formMs = w.nowNs / MS
      phase = 'steady'
      since = w.nowNs
      statusAtForm = statusSent()
    } else if (phase === 'steady' && w.nowNs - since >= STEADY_NS) {
      // Every STATUS goes to the group: each member reads the others'.
      result.statusPerMemberS = ((statusSent() - statusAtForm) * (n - 1)) / n / ((w.nowNs - since) / (1000 * MS))
      phase = 'crash'
      since = w.nowNs
      crashes.push({ id: nodes[n - 1]!.inc.id, atNs: w.nowNs })
      nodes[n - 1]!.crash()
    } else if (phase === 'crash' && allIn(nodes.slice(0, n - 1), n - 1)) {
      result.crashMs = (w.nowNs - since) / MS
      phase = 'leave'
      since = w.nowNs
      nodes[n - 2]!.leave()
    } else if (phase === 'leave' && allIn(nodes.slice(0, n - 2), n - 2)) {
      result.leaveMs = (w.nowNs - since) / MS
      phase = 'done'
      return
    }
    w.at(w.nowNs + 1 * MS, check)
  }
  w.at(20 * MS, check)
  for (const node of nodes) {
    const every = 5 * Math.max(1, n / 5) * MS
    const loop = () => {
      if (phase === 'done') return
      if (node.alive && node.member.joined) node.send(100, OrderCode.fifo)
      w.at(w.nowNs + every, loop)
    }
    w.at(every, loop)
  }
  // In steps, until the leave is through (and 500 ms more), at most 60 s.
  const limitNs = 60_000 * MS
  try {
    let t = 0
    while (phase !== 'done' && t < limitNs) w.run((t += 250 * MS))
    w.run(w.nowNs + 500 * MS)
  } catch (err) {
    result.errors.push((err as Error).message)
  }
  if (phase !== 'done') result.errors.push(`stuck at '${phase}' after ${limitNs / MS} simulated ms`)
  const logs: Log[] = w.incarnations.map((inc) => ({ ...inc, ...(inc.end === 'running' && w.nodes[inc.node]!.inc === inc ? { finalState: w.nodes[inc.node]!.state } : {}) }))
  result.errors.push(...checkInvariants(logs, { crashes, detectionNs: 4 * config.suspectTimeoutMs * MS, excused: [], endNs: w.nowNs, settled: false }))
  w.dispose()
  result.wallMs = Date.now() - started
  return result
}
