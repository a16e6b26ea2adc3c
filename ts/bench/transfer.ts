// `troupe bench --transfer SIZE`: one object from member 0 to every other
// member with group.transfer(), then, in the same run and between the same
// processes, the same bytes over one plain TCP stream per receiver (node:net,
// what a user would write instead). Reports the time until every receiver
// holds it, MB/s per receiver and the CPU each side spent, checksums checked
// (the library's CRC-32C for the transfer; the same CRC at the TCP receivers).
//
// Every member process is killed by pid on every way out (children.ts).
import { randomBytes } from 'node:crypto'

import { Members, type Member } from './children.js'
import type { BenchConfig } from './options.js'
import type { PhaseReport, TransferMemberArgs, TransferToMember, TransferToParent } from './transfer-member.js'

export interface TransferPhase {
  method: 'troupe' | 'tcp'
  /** From the source's start until every receiver held all of it (the source's view: its promise, or every stream closed). */
  ms: number
  /** bytes / ms per receiver, in MB/s (10^6 bytes). */
  mbPerSecond: number
  senderCpuPercent: number
  receiverCpuPercent: number[]
  /** Every receiver got every byte, checksum matched. */
  verified: boolean
  error?: string
}

export interface TransferBenchResult {
  bytes: number
  receivers: number
  phases: TransferPhase[]
}

const PHASE_TIMEOUT_MS = 600_000

export async function runTransferBench(config: BenchConfig): Promise<number> {
  const bytes = config.transfer!
  const group = `bench-transfer-${process.pid}-${randomBytes(3).toString('hex')}`
  type Report = Exclude<TransferToParent, { t: 'view' } | { t: 'failed' }>
  const members = new Members<Report>('bench-transfer-member', config.members, (index): TransferMemberArgs => ({ group, index, join: config.join }), PHASE_TIMEOUT_MS)
  const log = (line: string): void => {
    if (!config.json) process.stderr.write(`troupe bench: ${line}\n`)
  }
  const of = <T extends 'troupe' | 'tcp'>(m: Member<Report>, t: T): PhaseReport[] => m.reports.flatMap((r) => (r.t === t ? [r.report] : []))
  const port = (m: Member<Report>): number | undefined => m.reports.flatMap((r) => (r.t === 'ready' ? [r.port] : []))[0]
  try {
    await members.until(`a view of all ${config.members} members`, () => members.all.every((m) => port(m) !== undefined && m.view === config.members))
    const [source, ...receivers] = members.all as [Member<Report>, ...Member<Report>[]]
    const size = `${(bytes / 2 ** 20).toFixed(0)} MiB`
    const phases: TransferPhase[] = []

    log(`group.transfer(): ${size} from member 0 to ${receivers.length} receivers`)
    members.send(source, { cmd: 'troupe', bytes } satisfies TransferToMember)
    await members.until('the transfer', () => of(source, 'troupe').length === 1 && receivers.every((c) => of(c, 'troupe').length === 1))
    phases.push(phase('troupe', bytes, of(source, 'troupe')[0]!, receivers.map((c) => of(c, 'troupe')[0]!), (r) => r.bytes === bytes))

    log(`${receivers.length} TCP streams: ${size} from member 0's process to each receiver's`)
    members.send(source, { cmd: 'tcp', bytes, ports: receivers.map((c) => port(c)!) } satisfies TransferToMember)
    await members.until('the TCP streams', () => of(source, 'tcp').length === 1 && receivers.every((c) => of(c, 'tcp').length === 1))
    const crc = of(source, 'tcp')[0]!.crc
    phases.push(phase('tcp', bytes, of(source, 'tcp')[0]!, receivers.map((c) => of(c, 'tcp')[0]!), (r) => r.bytes === bytes && r.crc === crc))

    const result: TransferBenchResult = { bytes, receivers: receivers.length, phases }
    process.stdout.write(config.json ? `${JSON.stringify(result)}\n` : formatTransfer(result))
    return phases.every((p) => p.verified) ? 0 : 1
  } catch (err) {
    process.stderr.write(`troupe bench: ${(err as Error).message}\n`)
    return 1
  } finally {
    await members.close() // (members leave on 'finish'; whatever still runs a moment later is killed)
  }
}

function phase(method: TransferPhase['method'], bytes: number, source: PhaseReport, receivers: PhaseReport[], ok: (r: PhaseReport) => boolean): TransferPhase {
  const error = [source, ...receivers].find((r) => r.error)?.error
  const pct = (r: PhaseReport): number => Math.round((100 * r.cpuMs) / Math.max(1, r.ms))
  return {
    method,
    ms: Math.round(source.ms),
    mbPerSecond: Math.round(bytes / 1e3 / source.ms),
    senderCpuPercent: pct(source),
    receiverCpuPercent: receivers.map(pct),
    verified: error === undefined && receivers.every(ok),
    ...(error ? { error } : {}),
  }
}

export function formatTransfer(r: TransferBenchResult): string {
  const rows = [['', 'time', 'MB/s per receiver', 'sender CPU', 'receiver CPU', 'checksum']]
  for (const p of r.phases) {
    rows.push([
      p.method === 'troupe' ? 'group.transfer()' : `${r.receivers} TCP streams (node:net)`,
      `${(p.ms / 1000).toFixed(2)} s`,
      p.mbPerSecond.toLocaleString('en-US'),
      `${p.senderCpuPercent}%`,
      p.receiverCpuPercent.map((x) => `${x}%`).join(' '),
      p.verified ? `CRC-32C matched at ${r.receivers}/${r.receivers}` : `FAILED${p.error ? `: ${p.error}` : ''}`,
    ])
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)))
  const lines = rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '))
  const [t, tcp] = r.phases
  const ratio = t && tcp ? `\ngroup.transfer() / TCP: ${(t.mbPerSecond / Math.max(1, tcp.mbPerSecond)).toFixed(2)}x the MB/s per receiver, ${(t.senderCpuPercent * t.ms / Math.max(1, tcp.senderCpuPercent * tcp.ms)).toFixed(2)}x the sender's CPU time\n` : '\n'
  return `${(r.bytes / 2 ** 20).toFixed(0)} MiB from one member to ${r.receivers}, loopback:\n${lines.join('\n')}${ratio}`
}
