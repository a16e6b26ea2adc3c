// One member process of `troupe bench` (the hidden `troupe bench-member`):
// joins the group, waits for the full view, then sends, receives, pings or
// pongs as the parent's IPC messages say, and reports back over IPC.
//
// Phases (the parent drives them; see run.ts):
//   joined ─go─► senders send DATA for --seconds, then END ─► 'sent'
//                receivers deliver until every END's count is in ─► 'delivered'
//          ─ping─► member 0: PING(i) → member 1: PONG(i), one at a time ─► 'pinged'
//   or, per rate phase (--rate, --rates):
//          ─rate─► a fresh receiver ─► 'ready'
//          ─start(t0)─► senders paced from t0, member 0 pinging member 1 ─► 'sent', 'pinged'
//                       receivers deliver up to every END's count ─► 'delivered'
//          ─finish─► every member: counters ─► 'result', leave, exit 0

import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises'
import { Group, type JoinOptions, type Message, type Order } from '../index.js'
import { defaultEndpoint } from '../options.js'
import type { BenchConfig } from './options.js'
import { Pinger, Ponger } from './ping.js'
import { Receiver } from './receiver.js'
import { pace, Schedule } from './paced.js'
import { DATA, END, loneSenderSkipsOwn, PING, PONG, WARM, writeHeader, writeTime, writeU32 } from './protocol.js'
import type { MemberArgs, RatePhase, SenderReport, ToMember, ToParent } from './protocol.js'

/** Yield to the event loop every this many sends, so that the engine's wake-ups
 *  (drain, deliveries, IPC) run while the sender is busy. */
const SENDS_PER_YIELD = 256
/** Re-read the clock every this many sends: hrtime.bigint() costs ~70 ns, a
 *  send a few hundred; so a message's "sent at" may be early by up to 31 sends. */
const SENDS_PER_STAMP = 32

export async function runMember(args: MemberArgs): Promise<void> {
  const { index, config } = args
  const toParent = (m: ToParent): Promise<void> =>
    new Promise((resolve, reject) => process.send!(m, undefined, undefined, (err) => (err ? reject(err) : resolve())))
  // The parent is gone (killed, crashed): there is no one to report to.
  process.on('disconnect', () => process.exit(1))

  const isSender = index < config.senders
  // With one sender the peers' senders do not deliver their own messages, and
  // on a 2-core host delivering them would only take CPU from the receivers,
  // so a lone sender sets receiveOwn false (receivers keep the default). With several senders every member
  // is a receiver of the others' streams; under total (and safe) order a
  // sender's own messages take their place in the one order that it must
  // deliver too, so then it keeps receiveOwn (the library's default).
  const receiveOwn = !(isSender && loneSenderSkipsOwn(config))
  const isReceiver = !isSender || receiveOwn

  const inject = config.loss || config.duplicate || config.reorder || config.delay
    ? {
        ...(config.loss ? { loss: config.loss } : {}),
        ...(config.duplicate ? { duplicate: config.duplicate } : {}),
        ...(config.reorder ? { reorder: config.reorder } : {}),
        ...(config.delay ? { delay: config.delay } : {}),
        ...(args.seed !== undefined ? { seed: args.seed } : {}),
      }
    : undefined
  const options: JoinOptions = {
    ...config.join,
    name: `bench-${index}`,
    receiveOwn,
    ...(inject ? { inject } : {}),
    ...(config.key ? { key: Buffer.from(config.key, 'hex') } : {}),
    ...(config.transport === 'udp-unicast' ? unicastOptions(args.group, index, config) : {}),
  }

  const wallNow = (): number => performance.timeOrigin + performance.now()
  const joinStartedAtMs = wallNow()
  const joinStart = performance.now()
  const group = await Group.join(args.group, options)
  group.on('view', (v) => void toParent({ t: 'view', id: v.id, members: [...v.members], atMs: wallNow() }).catch(() => {}))
  let receiver = new Receiver(config.senders, config.consume)
  let ratePhase: RatePhase | null = null
  const pinger = new Pinger(group, config.size)
  const ponger = new Ponger(group, config.size, config.order) // answers the PINGs addressed to us (byte 1)
  let pingsSeen = 0
  let pongsSeen = 0
  // One handler for every phase: DATA and END go to the receiver's counts,
  // PING and PONG to the round-trip measurement.
  const onMessage = (msg: Message): void => {
    const type = msg.data[0]
    if (type === DATA || type === END || type === WARM) {
      if (isReceiver) receiver.onData(msg.data)
    } else if (type === PING) {
      pingsSeen++
      if (msg.data[1] === index) ponger.onPing(msg.data)
    } else if (type === PONG) {
      pongsSeen++
      pinger.onPong(msg.data)
    }
  }
  if (config.consume === 'iterator') {
    void (async () => {
      for await (const msg of group) onMessage(msg)
    })().catch((err: unknown) => fail(err))
  } else if (config.consume === 'batch') {
    // DATA read in place from the cursor's bytes; the rest (pings) as Messages.
    group.on('batch', (batch) => {
      for (const m of batch) {
        const type = m.buffer[m.offset]
        if (type === DATA || type === END || type === WARM) {
          if (isReceiver) receiver.onBytes(m.buffer, m.offset, m.length)
        } else onMessage(m.toMessage())
      }
    })
  } else group.on('message', onMessage)
  receiver.onComplete = () => void toParent({ t: 'delivered', report: receiver.report(true) })

  // Listen before saying 'joined': the parent's 'go' may follow at once.
  process.on('message', (m: ToMember) => {
    void (async () => {
      switch (m.t) {
        case 'go':
          receiver.start()
          if (isSender) await toParent({ t: 'sent', report: await sendData(group, index, config.seconds, config.size, config.order) })
          break
        case 'rate':
          // A rate phase is coming: a fresh receiver (seqs start again), in
          // place before the parent sets the phase's start.
          ratePhase = m
          receiver = new Receiver(config.senders, config.consume, true)
          await toParent({ t: 'ready', phase: m.phase })
          break
        case 'start': {
          // The senders paced, member 0 pinging during the measured part.
          const p = ratePhase!
          const r = receiver
          r.startSeries(m.t0)
          r.onComplete = () => void toParent({ t: 'delivered', report: r.report(true), phase: p.phase })
          r.start()
          const work: Promise<void>[] = []
          if (isSender) work.push(sendAtRate(group, index, config, p, m.t0).then((report) => toParent({ t: 'sent', report, phase: p.phase })))
          if (index === 0 && p.pings > 0) {
            const from = m.t0 + p.warmup * 1e9
            const ping = pinger.runPaced(p.pings, config.order, p.ponger, p.pingRate, from, from + p.seconds * 1e9)
            work.push(ping.then((report) => toParent({ t: 'pinged', report, phase: p.phase })))
          }
          await Promise.all(work)
          break
        }
        case 'report':
          if (isReceiver) await toParent({ t: 'delivered', report: receiver.report(false) })
          break
        case 'ping':
          await toParent({ t: 'pinged', report: await pinger.run(m.count, config.order, m.to) })
          break
        case 'finish': {
          const stats = group.stats()
          const view = group.view
          await toParent({ t: 'result', report: { counters: { ...stats.counters }, view: { id: view.id, members: [...view.members] }, pingsSeen, pongsSeen } })
          await withDeadline(group.leave(), 5000, 'leave() did not finish within 5 s')
          process.exit(0)
        }
        case 'leave': {
          await toParent({ t: 'leaving', atMs: wallNow() })
          await withDeadline(group.leave(), 5000, 'leave() did not finish within 5 s')
          const stats = group.stats()
          await toParent({ t: 'result', report: { counters: { ...stats.counters }, view: { id: 0, members: [] }, pingsSeen, pongsSeen } })
          process.exit(0)
        }
      }
    })().catch((err: unknown) => fail(err))
  })

  await fullView(group, config.members + (args.extra ? 1 : 0), config.joinTimeout * 1000)
  const v = group.view
  await toParent({
    t: 'joined',
    me: group.me,
    view: { id: v.id, members: [...v.members], coordinator: v.coordinator },
    joinMs: performance.now() - joinStart,
    joinStartedAtMs,
  })
}

/** Reports a failure to the parent (which shows it with our stderr) and exits 1. */
export function fail(err: unknown): void {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  const message: ToParent = { t: 'failed', message: err instanceof Error ? err.message : String(err) }
  // Exit once the message is out (or at once without a parent).
  if (process.connected) process.send!(message, undefined, undefined, () => process.exit(1))
  else process.exit(1)
}

/** Resolves once the view holds `n` members; rejects after `ms`, naming who is there. */
async function fullView(group: Group, n: number, ms: number): Promise<void> {
  if (group.view.members.length === n) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      group.off('view', onView)
      reject(new Error(`the view has ${group.view.members.length} of ${n} members after ${ms / 1000} s (view ${group.view.id}: ${group.view.members.join(', ')}); did the other members start?`))
    }, ms)
    const onView = (): void => {
      const have = group.view.members.length
      if (have < n) return
      clearTimeout(timer)
      group.off('view', onView)
      if (have > n) reject(new Error(`the view has ${have} members, more than the ${n} started: another process joined this run's group (${group.view.members.join(', ')})`))
      else resolve()
    }
    group.on('view', onView)
  })
}

/** Member i listens on the group's port + i; the list has room for the extra member of the view-change phase. */
function unicastOptions(group: string, index: number, config: BenchConfig): JoinOptions {
  const base = defaultEndpoint(group).port
  const host = config.join.interface ?? '127.0.0.1'
  const peers = Array.from({ length: config.members + 1 }, (_, i) => `${host}:${base + i}`)
  return { transport: 'udp-unicast', port: base + index, peers }
}

async function sendData(group: Group, index: number, seconds: number, size: number, order: Order): Promise<SenderReport> {
  // send() copies, so one buffer serves every message.
  const buf = new Uint8Array(size)
  writeHeader(buf, DATA, index)
  const opts = { order }
  let seq = 0
  let drainWaits = 0
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  const stop = t0 + BigInt(Math.round(seconds * 1e9))
  sending: for (;;) {
    for (let i = 0; i < SENDS_PER_YIELD; i++) {
      if (i % SENDS_PER_STAMP === 0) {
        const now = process.hrtime.bigint()
        if (now >= stop) break sending
        writeTime(buf, now)
      }
      writeU32(buf, 4, seq)
      seq++
      // false: the window is full (the message was taken); wait for 'drain'.
      if (!group.send(buf, opts)) {
        drainWaits++
        await drained(group)
        const now = process.hrtime.bigint()
        if (now >= stop) break sending
        writeTime(buf, now)
      }
    }
    await yieldToLoop()
  }
  const t1 = process.hrtime.bigint()
  const cpu = process.cpuUsage(cpu0)
  const end = new Uint8Array(size)
  writeHeader(end, END, index)
  writeU32(end, 4, seq)
  writeTime(end, t1)
  if (!group.send(end, opts)) await drained(group)
  const wallUs = Number(t1 - t0) / 1000
  return { sent: seq, seconds: wallUs / 1e6, drainWaits, cpuPercent: (100 * (cpu.user + cpu.system)) / wallUs }
}

/** One rate phase's sending: DATA (WARM during the warm-up) on the schedule, stamped with intended times; then END. */
async function sendAtRate(group: Group, index: number, config: BenchConfig, phase: RatePhase, t0: number): Promise<SenderReport> {
  const buf = new Uint8Array(config.size)
  const opts = { order: config.order }
  const warm = Math.round(phase.rate * phase.warmup)
  const schedule = new Schedule(t0, phase.rate, warm + Math.round(phase.rate * phase.seconds))
  let drainWaits = 0
  const cpu0 = process.cpuUsage()
  const result = await pace(schedule, {
    now: () => Number(process.hrtime.bigint()),
    send: (i, intended) => {
      writeHeader(buf, i < warm ? WARM : DATA, index)
      writeU32(buf, 4, i)
      writeTime(buf, BigInt(intended))
      if (group.send(buf, opts)) return
      drainWaits++
      return drained(group)
    },
    yield: () => yieldToLoop(),
    sleep: (ns) => sleep(ns / 1e6),
  }, warm)
  const t1 = process.hrtime.bigint()
  const cpu = process.cpuUsage(cpu0)
  const end = new Uint8Array(config.size)
  writeHeader(end, END, index)
  writeU32(end, 4, result.sent)
  writeTime(end, t1)
  if (!group.send(end, opts)) await drained(group)
  const wallUs = (Number(t1) - t0) / 1000
  return {
    sent: result.sent,
    seconds: wallUs / 1e6,
    drainWaits,
    cpuPercent: wallUs > 0 ? (100 * (cpu.user + cpu.system)) / wallUs : 0,
    maxBehindUs: Math.round(result.maxBehindNs / 1000),
    endBehindUs: Math.round(result.endBehindNs / 1000),
    lag: result.lag.toData(),
  }
}

/** How long a sender waits for 'drain' before it says so on stderr (shown by the parent if the run then fails). */
const DRAIN_REPORT_MS = 5000

/** Waits for 'drain'; if it is slow in coming, writes the sender's flow-control state to stderr, once. */
export function drained(group: Group): Promise<void> {
  return new Promise((resolve) => {
    const slow = setTimeout(() => {
      const s = group.stats()
      const c = s.counters
      process.stderr.write(
        `no 'drain' ${DRAIN_REPORT_MS / 1000} s after send() returned false: pendingMessages ${s.pendingMessages}, ` +
          `highestSent ${c['highestSent']}, stableSeq ${c['stableSeq']}, logBytes ${c['logBytes']}, windowFull ${c['windowFull']}, ` +
          `view ${s.view.id} (${s.view.members.length} members)\n`,
      )
    }, DRAIN_REPORT_MS)
    group.once('drain', () => {
      clearTimeout(slow)
      resolve()
    })
  })
}

function withDeadline<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}
