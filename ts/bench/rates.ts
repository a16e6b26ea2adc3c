// The rate phases' results (--rate, --rates): per rate, what each sender
// achieved against its schedule, each receiver's one-way latency
// percentiles and what it lost, the round trips under that load; and their
// table and CSV.
import { Histogram, type HistogramData } from './histogram.js'
import type { BenchConfig } from './options.js'
import { SERIES_MS, type ReceiverReport } from './protocol.js'
import type { Member } from './run.js'

/** Latency percentiles and max, µs. */
export interface Percentiles {
  count: number
  p50: number
  p90: number
  p99: number
  p999: number
  p9999: number
  max: number
}

export interface RateReceiver {
  index: number
  /** Messages delivered, warm-up included. */
  delivered: number
  lost: number
  duplicates: number
  outOfOrder: number
  /** One-way: the intended send time to this receiver's handler. */
  latency: Percentiles
  /** The histogram itself (for the HTML report's distribution). */
  histogram: HistogramData
  /** Messages delivered per SERIES_MS from the phase's start. */
  series: number[]
  cpuPercent: number
}

export interface RateResult {
  /** Messages/s per sender asked for. */
  rate: number
  /** Messages/s each sender achieved (sent over the phase's duration). */
  achieved: number[]
  /** How far behind its schedule a sender went at worst, warm-up included, and at the end (µs). */
  maxBehindUs: number
  endBehindUs: number
  /** How late the senders' messages went out after the warm-up (send() − intended time, all senders): their own share of the one-way latency. */
  sendLag: Percentiles
  /** Times a sender's send() found the window full and it waited for 'drain' (its lateness then is flow control's). */
  drainWaits: number
  /** The receiver whose p99 is highest, and its percentiles. */
  worst: Percentiles & { index: number }
  receivers: RateReceiver[]
  /** Round trips under this load (member 0 -> member 1 -> member 0, paced). */
  rtt: Percentiles & { timeouts: number }
  seriesMs: number
}

/** What a receiver lost (of what each sender sent), delivered twice, and out of order. */
export function tally(r: ReceiverReport, sentBy: number[]): { lost: number; duplicates: number; outOfOrder: number } {
  let lost = 0
  let duplicates = 0
  let outOfOrder = 0
  r.perSender.forEach((p, s) => {
    lost += Math.max(0, sentBy[s]! - p.delivered)
    duplicates += p.duplicates
    outOfOrder += p.outOfOrder
  })
  return { lost, duplicates, outOfOrder }
}

export function percentiles(h: Histogram): Percentiles {
  const us = (ns: number): number => Math.round(ns / 100) / 10
  return {
    count: h.count,
    p50: us(h.quantile(0.5)),
    p90: us(h.quantile(0.9)),
    p99: us(h.quantile(0.99)),
    p999: us(h.quantile(0.999)),
    p9999: us(h.quantile(0.9999)),
    max: us(h.count === 0 ? 0 : h.max),
  }
}

/** The rate phases of a run, checked: what was lost, duplicated or misordered goes into `problems`. */
export function summarizeRates(config: BenchConfig, members: Member[], problems: string[]): RateResult[] {
  return config.rates.map((rate, k) => {
    const senders = members.slice(0, config.senders).map((m) => m.phases[k]?.sent)
    const sentBy = senders.map((s) => s?.sent ?? 0)
    const receivers: RateReceiver[] = []
    for (const m of members) {
      const d = m.phases[k]?.delivered
      if (!d) continue
      const { lost, duplicates, outOfOrder } = tally(d, sentBy)
      const h = Histogram.from(d.latency)
      receivers.push({ index: m.index, delivered: d.messages, lost, duplicates, outOfOrder, latency: percentiles(h), histogram: d.latency, series: d.series ?? [], cpuPercent: Math.round(d.cpuPercent) })
      const at = `rate ${rate}: member ${m.index}`
      if (lost > 0) problems.push(`${at} lost ${lost} messages`)
      if (duplicates > 0) problems.push(`${at} delivered ${duplicates} messages twice`)
      if (outOfOrder > 0 && config.order !== 'unordered') problems.push(`${at}: ${outOfOrder} deliveries broke ${config.order} order`)
    }
    const worst = receivers.reduce<RateReceiver | null>((w, r) => (w === null || r.latency.p99 > w.latency.p99 ? r : w), null)
    const ping = members[0]?.phases[k]?.pinged
    const rtt = ping ? Histogram.from(ping.rtt) : new Histogram()
    if (ping && ping.timeouts > 0) problems.push(`rate ${rate}: ${ping.timeouts} of ${ping.count} pings got no answer within 1 s` + (ping.gaveUp ? '; gave up after several in a row' : ''))
    const lag = new Histogram()
    for (const s of senders) if (s?.lag) lag.add(s.lag)
    return {
      rate,
      achieved: senders.map((s) => (s && s.seconds > 0 ? Math.round(s.sent / s.seconds) : 0)),
      maxBehindUs: Math.max(0, ...senders.map((s) => s?.maxBehindUs ?? 0)),
      endBehindUs: Math.max(0, ...senders.map((s) => s?.endBehindUs ?? 0)),
      sendLag: percentiles(lag),
      drainWaits: senders.reduce((a, s) => a + (s?.drainWaits ?? 0), 0),
      worst: { index: worst?.index ?? -1, ...(worst?.latency ?? percentiles(new Histogram())) },
      receivers,
      rtt: { ...percentiles(rtt), timeouts: ping?.timeouts ?? 0 },
      seriesMs: SERIES_MS,
    }
  })
}

const n = (x: number): string => Math.round(x).toLocaleString('en-US')
const us = (x: number): string => (x < 100 ? x.toFixed(1) : n(x))

/** One row per rate: the worst receiver's one-way percentiles and the round trips under that load. */
export function formatRates(rates: RateResult[]): string {
  const head = ['rate/s', 'achieved', 'late p99', 'late max', 'drain waits', 'worst', 'p50 µs', 'p90', 'p99', 'p99.9', 'p99.99', 'max', 'rtt p50', 'rtt p99', 'lost', 'dup']
  const rows = rates.map((r) => [
    n(r.rate), n(Math.min(...r.achieved)), us(r.sendLag.p99), us(r.sendLag.max), n(r.drainWaits), `${r.worst.index}`,
    us(r.worst.p50), us(r.worst.p90), us(r.worst.p99), us(r.worst.p999), us(r.worst.p9999), us(r.worst.max),
    r.rtt.count ? us(r.rtt.p50) : '-', r.rtt.count ? us(r.rtt.p99) : '-',
    n(r.receivers.reduce((a, x) => a + x.lost, 0)), n(r.receivers.reduce((a, x) => a + x.duplicates, 0)),
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ')
  return [
    'one-way latency (intended send time -> receiver\'s handler) at the worst receiver, µs; the senders\' lateness against',
    'their schedule (late: send() - intended time, after the warm-up), which that latency includes; round trips under the same load',
    line(head),
    ...rows.map(line),
  ].join('\n')
}

export const CSV_HEADER = 'rate,achieved,sender_max_behind_us,send_lag_p50_us,send_lag_p99_us,receiver,delivered,lost,duplicates,out_of_order,p50_us,p90_us,p99_us,p999_us,p9999_us,max_us,rtt_p50_us,rtt_p99_us,rtt_p999_us,rtt_max_us,cpu_percent'

/** One line per rate and receiver, after the header. */
export function formatCsv(rates: RateResult[]): string {
  const lines = [CSV_HEADER]
  for (const r of rates) {
    for (const x of r.receivers) {
      const l = x.latency
      lines.push([r.rate, Math.min(...r.achieved), r.maxBehindUs, r.sendLag.p50, r.sendLag.p99, x.index, x.delivered, x.lost, x.duplicates, x.outOfOrder, l.p50, l.p90, l.p99, l.p999, l.p9999, l.max, r.rtt.p50, r.rtt.p99, r.rtt.p999, r.rtt.max, x.cpuPercent].join(','))
    }
  }
  return lines.join('\n')
}
