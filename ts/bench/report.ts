// What `troupe bench` reports: the result (the JSON that --json prints) and
// the table made from it.
import type { BenchConfig } from './options.js'
import { formatRates, type RateResult } from './rates.js'

export interface ViewChangeTimes {
  /** A new member calls Group.join() until every member (it too) has the view with it. */
  joinMs: number
  /** A member calls leave() until every other member has the view without it. */
  leaveMs: number
  /** A member is SIGKILLed until every survivor has the view without it (includes suspectTimeout). */
  crashMs: number
  suspectTimeoutMs: number
}

/** The JSON that `troupe bench --json` prints; the table shows the same numbers. */
export interface BenchResult {
  benchmark: 'troupe bench'
  version: string
  date: string
  host: { cpus: number; loadavg: number[]; node: string; platform: string }
  config: BenchConfig & { group: string; receivers: number; seed: number | undefined }
  ok: boolean
  problems: string[]
  /** Messages/s delivered at the slowest receiver. */
  minMsgsPerSec: number
  meanMsgsPerSec: number
  minMBPerSec: number
  sent: number
  /** Sent but never delivered, summed over receivers: must be 0. */
  lost: number
  duplicates: number
  outOfOrder: number
  /** One-way delivery latency under load, over every receiver's deliveries. */
  latencyP50Us: number
  latencyP99Us: number
  latencyP999Us: number
  latencyMaxUs: number
  /** Unloaded round trip, member 0 -> member 1 -> member 0, one at a time. */
  /** Who pinged whom (member indexes). */
  pingPair: [number, number]
  /** The view-change phase (null: skipped, or fewer than 3 members). */
  viewChange: ViewChangeTimes | null
  rttP50Us: number
  rttP99Us: number
  rttMaxUs: number
  pings: number
  pingTimeouts: number
  /** Summed over all members, from group.stats().counters. */
  naks: number
  nakedSeqs: number
  retransmits: number
  repaired: number
  unrecoverable: number
  injectedLoss: number
  senders: Array<{ index: number; sent: number; seconds: number; msgsPerSec: number; drainWaits: number; cpuPercent: number }>
  receivers: Array<{
    index: number
    role: 'receiver' | 'sender+receiver'
    messages: number
    seconds: number
    msgsPerSec: number
    mbPerSec: number
    latencyP50Us: number
    latencyP99Us: number
    latencyP999Us: number
    latencyMaxUs: number
    lost: number
    duplicates: number
    outOfOrder: number
    complete: boolean
    naksSent: number
    repaired: number
    cpuPercent: number
    /** The receiving process's peak resident memory (MiB). */
    peakRssMiB: number
  }>
  members: Array<{ index: number; id: string; pid: number; joinMs: number; pingsSeen: number; pongsSeen: number; counters: Record<string, number> }>
  /** The rate phases (--rate, --rates); empty when the senders saturated. */
  rates: RateResult[]
}

// ---- the table ---------------------------------------------------------------------

const n = (x: number): string => Math.round(x).toLocaleString('en-US')

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  // The first column is a label: left-aligned; numbers are right-aligned.
  const line = (cells: string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd()
  return [line(head), ...rows.map(line)].join('\n')
}

export function formatTable(r: BenchResult): string {
  const c = r.config
  const out: string[] = []
  out.push(
    `troupe bench ${r.version}: ${c.members} members (${c.senders} sending, ${c.receivers} receiving), ` +
      `${c.size} B messages, ${c.order}, ${c.seconds} s, group ${c.group}` +
      (c.key ? ', closed (AES-256-GCM)' : '') +
      (c.consume === 'iterator' ? ', receivers iterate (for await)' : c.consume === 'batch' ? ", receivers take 'batch' events" : '') +
      (c.loss || c.duplicate || c.reorder ? `, injected loss ${c.loss ?? 0} dup ${c.duplicate ?? 0} reorder ${c.reorder ?? 0} seed ${c.seed}` : '') +
      (c.delay ? `, every datagram delayed ${c.delay} ms (round trip ${2 * c.delay} ms)` : ''),
  )
  out.push('')
  if (r.rates.length > 0) out.push(formatRates(r.rates))
  else saturated(r, out)
  out.push(
    `reliability, all members: ${n(r.naks)} NAKs (${n(r.nakedSeqs)} seqs asked), ${n(r.retransmits)} retransmits, ` +
      `${n(r.repaired)} repaired, ${n(r.unrecoverable)} unrecoverable` + (r.injectedLoss ? `, ${n(r.injectedLoss)} datagrams dropped by injection` : ''),
  )
  out.push(`lost (sent, never delivered): ${n(r.lost)}`)
  if (r.viewChange) {
    const v = r.viewChange
    out.push(`view changes, cause to the last member's install: join ${v.joinMs} ms, leave ${v.leaveMs} ms, crash (SIGKILL) ${v.crashMs} ms (suspectTimeout ${v.suspectTimeoutMs} ms)`)
  }
  out.push(r.ok ? `OK: nothing lost, duplicated or misordered${c.order === 'total' || c.order === 'safe' ? '; one total order at every member (same hash chain of the delivery order)' : ''}` : `FAIL: ${r.problems.join('; ')}`)
  return out.join('\n')
}

/** The tables of a saturating run: senders, receivers, the unloaded round trip. */
function saturated(r: BenchResult, out: string[]): void {
  out.push('')
  out.push(
    table(
      ['sender', 'sent', 'seconds', 'msgs/s', 'drain waits', 'cpu %'],
      r.senders.map((s) => [`${s.index}`, n(s.sent), s.seconds.toFixed(2), n(s.msgsPerSec), n(s.drainWaits), `${s.cpuPercent}`]),
    ),
  )
  out.push('')
  const rows = r.receivers.map((x) => [
    `${x.index}${x.role === 'sender+receiver' ? ' (also sends)' : ''}`,
    n(x.msgsPerSec), x.mbPerSec.toFixed(1),
    n(x.latencyP50Us), n(x.latencyP99Us), n(x.latencyP999Us),
    n(x.lost), n(x.duplicates), n(x.outOfOrder), n(x.naksSent), n(x.repaired), `${x.cpuPercent}`, n(x.peakRssMiB),
  ])
  rows.push([
    'slowest / all',
    n(r.minMsgsPerSec), r.minMBPerSec.toFixed(1),
    n(r.latencyP50Us), n(r.latencyP99Us), n(r.latencyP999Us),
    n(r.lost), n(r.duplicates), n(r.outOfOrder), n(r.naks), n(r.repaired), '', n(Math.max(...r.receivers.map((x) => x.peakRssMiB))),
  ])
  out.push(
    table(
      ['receiver', 'msgs/s', 'MB/s', 'lat p50 µs', 'p99 µs', 'p99.9 µs', 'lost', 'dup', 'misorder', 'NAKs', 'repaired', 'cpu %', 'peak RSS MiB'],
      rows,
    ),
  )
  out.push('')
  out.push(
    r.pings > 0
      ? `round trip, unloaded (${n(r.pings)} sequential pings ${r.pingPair[0]} -> ${r.pingPair[1]} -> ${r.pingPair[0]}${r.config.order === 'total' || r.config.order === 'safe' ? ', neither the sequencer' : ''}): p50 ${n(r.rttP50Us)} µs, p99 ${n(r.rttP99Us)} µs, max ${n(r.rttMaxUs)} µs` +
          (r.pingTimeouts ? `, ${r.pingTimeouts} timed out` : '')
      : 'round trip: not measured (--pings 0)',
  )
}
