// The bench's result (report.ts BenchResult), made from what the members reported.
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { Histogram } from './histogram.js'
import { summarizeRates, tally } from './rates.js'
import type { BenchConfig } from './options.js'
import type { BenchResult, ViewChangeTimes } from './report.js'
import type { Member } from './run.js'

const round = (x: number, digits: number): number => Number(x.toFixed(digits))

/** What summarize() reads of a run. */
export interface RunState {
  readonly config: BenchConfig
  readonly members: Member[]
  readonly group: string
  readonly seed: number | undefined
  readonly pinger: number
  readonly ponger: number
}

export function summarize(run: RunState, viewChange: ViewChangeTimes | null, problems: string[]): BenchResult {
  const c = run.config
  const us = (ns: number): number => Math.round(ns / 1000)
  const senders = run.members.slice(0, c.senders).filter((m) => m.sent).map((m) => {
    const s = m.sent!
    return {
      index: m.index,
      sent: s.sent,
      seconds: round(s.seconds, 3),
      msgsPerSec: Math.round(s.sent / s.seconds),
      drainWaits: s.drainWaits,
      cpuPercent: Math.round(s.cpuPercent),
    }
  })
  const sentBy = senders.map((s) => s.sent)
  const sum = (key: string, ms: Member[] = run.members): number => ms.reduce((a, m) => a + (m.result?.counters[key] ?? 0), 0)

  const allLatency = new Histogram()
  const receivers = run.members.filter((m) => m.delivered).map((m) => {
    const r = m.delivered!
    const lat = Histogram.from(r.latency)
    allLatency.add(r.latency)
    const { lost, duplicates, outOfOrder } = tally(r, sentBy)
    r.perSender.forEach((p, s) => {
      if (p.announced !== -1 && p.announced !== sentBy[s]) {
        problems.push(`member ${m.index} got END from sender ${s} announcing ${p.announced} messages; it sent ${sentBy[s]}`)
      }
      if (p.delivered > sentBy[s]!) problems.push(`member ${m.index} delivered ${p.delivered} distinct messages of sender ${s}, which sent ${sentBy[s]}`)
    })
    if (!r.complete) problems.push(`member ${m.index} had not delivered everything ${c.drainTimeout} s after the senders stopped`)
    if (r.foreign > 0) problems.push(`member ${m.index} delivered ${r.foreign} messages with a sender index that is not a sender's`)
    const msgsPerSec = r.seconds > 0 ? r.messages / r.seconds : 0
    return {
      index: m.index,
      role: (m.index < c.senders ? 'sender+receiver' : 'receiver') as 'receiver' | 'sender+receiver',
      messages: r.messages,
      seconds: round(r.seconds, 3),
      msgsPerSec: Math.round(msgsPerSec),
      mbPerSec: round((msgsPerSec * c.size) / 1e6, 2),
      latencyP50Us: us(lat.quantile(0.5)),
      latencyP99Us: us(lat.quantile(0.99)),
      latencyP999Us: us(lat.quantile(0.999)),
      latencyMaxUs: us(lat.max),
      lost,
      duplicates,
      outOfOrder,
      complete: r.complete,
      naksSent: m.result?.counters['naksSent'] ?? 0,
      repaired: m.result?.counters['repaired'] ?? 0,
      cpuPercent: Math.round(r.cpuPercent),
      peakRssMiB: Math.round(r.peakRssMiB),
    }
  })

  // Total order: every receiver delivered the same messages in one order.
  if (c.order === 'total' || c.order === 'safe') {
    const hashes = new Set(run.members.filter((m) => m.delivered?.complete).map((m) => m.delivered!.orderHash))
    if (hashes.size > 1) problems.push(`members delivered the total-order messages in ${hashes.size} different orders`)
  }
  const lost = receivers.reduce((a, r) => a + r.lost, 0)
  const duplicates = receivers.reduce((a, r) => a + r.duplicates, 0)
  const outOfOrder = receivers.reduce((a, r) => a + r.outOfOrder, 0)
  if (lost > 0) problems.push(`${lost} messages were sent but never delivered (summed over receivers)`)
  if (duplicates > 0) problems.push(`${duplicates} messages were delivered twice`)
  if (outOfOrder > 0 && c.order !== 'unordered') problems.push(`${outOfOrder} deliveries broke ${c.order} order (seq not previous + 1)`)

  const ping = run.members[run.pinger]!.pinged
  const rtt = ping ? Histogram.from(ping.rtt) : new Histogram()
  if (ping && ping.timeouts > 0) {
    const seen = run.members.map((m) => `${m.index}: ${m.result?.pingsSeen ?? '?'}/${m.result?.pongsSeen ?? '?'}`).join(', ')
    problems.push(
      `${ping.timeouts} of ${ping.count} pings got no answer within 1 s` + (ping.gaveUp ? `; gave up after several in a row (of ${c.pings})` : '') +
        `; PINGs/PONGs delivered per member by the end: ${seen}`,
    )
  }
  const rates = receivers.map((r) => r.msgsPerSec)
  const rateResults = summarizeRates(c, run.members, problems)
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

  return {
    benchmark: 'troupe bench',
    version: pkg.version,
    date: new Date().toISOString(),
    host: { cpus: os.cpus().length, loadavg: os.loadavg().map((x) => round(x, 2)), node: process.version, platform: `${os.platform()} ${os.release()}` },
    // The key itself is not printed: only that the group was closed.
    config: { ...c, key: c.key ? 'sealed' : undefined, group: run.group, receivers: rateResults[0]?.receivers.length ?? receivers.length, seed: run.seed },
    ok: problems.length === 0,
    problems,
    minMsgsPerSec: rates.length ? Math.min(...rates) : 0,
    meanMsgsPerSec: rates.length ? Math.round(rates.reduce((a, b) => a + b, 0) / rates.length) : 0,
    minMBPerSec: receivers.length ? Math.min(...receivers.map((r) => r.mbPerSec)) : 0,
    sent: sentBy.reduce((a, b) => a + b, 0),
    lost,
    duplicates,
    outOfOrder,
    latencyP50Us: us(allLatency.quantile(0.5)),
    latencyP99Us: us(allLatency.quantile(0.99)),
    latencyP999Us: us(allLatency.quantile(0.999)),
    latencyMaxUs: us(allLatency.max),
    viewChange,
    rttP50Us: us(rtt.quantile(0.5)),
    rttP99Us: us(rtt.quantile(0.99)),
    rttMaxUs: us(rtt.max),
    pings: ping?.count ?? 0,
    pingPair: [run.pinger, run.ponger],
    pingTimeouts: ping?.timeouts ?? 0,
    naks: sum('naksSent'),
    nakedSeqs: sum('nakedSeqs'),
    retransmits: sum('retransmits'),
    repaired: sum('repaired'),
    unrecoverable: sum('unrecoverable'),
    injectedLoss: sum('injectedLoss'),
    senders,
    receivers,
    rates: rateResults,
    members: run.members.map((m) => ({
      index: m.index,
      id: m.joined?.me ?? '',
      pid: m.pid,
      joinMs: Math.round(m.joined?.joinMs ?? 0),
      pingsSeen: m.result?.pingsSeen ?? 0,
      pongsSeen: m.result?.pongsSeen ?? 0,
      counters: m.result?.counters ?? {},
    })),
  }
}
