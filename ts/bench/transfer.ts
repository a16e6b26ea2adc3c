// `troupe bench --transfer SIZE`: one object from member 0 to every other
// member with group.transfer(), then, in the same run and between the same
// processes, the same bytes over one plain TCP stream per receiver (node:net,
// what a user would write instead). Reports the time until every receiver
// holds it, MB/s per receiver and the CPU each side spent, checksums checked
// (the library's CRC-32C for the transfer; the same CRC at the TCP receivers).
//
// Every member process is killed by pid on every way out (children.ts).
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'

import { forkMember, killMembersOnExit, OUTPUT_TAIL } from './children.js'
import type { BenchConfig } from './options.js'
import type { PhaseReport, TransferMemberArgs, TransferToMember, TransferToParent } from './transfer-member.js'

interface Child {
  index: number
  process: ChildProcess
  output: string
  port?: number
  view: number
  reports: { troupe: PhaseReport[]; tcp: PhaseReport[] }
}

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
  const children: Child[] = []
  const killAll = (): void => {
    for (const c of children) if (c.process.exitCode === null && c.process.pid) try { process.kill(-c.process.pid, 'SIGKILL') } catch {}
  }
  const release = killMembersOnExit(killAll)
  const log = (line: string): void => {
    if (!config.json) process.stderr.write(`troupe bench: ${line}\n`)
  }

  let failure: Error | null = null
  let wake = (): void => {}
  const until = async (what: string, done: () => boolean): Promise<void> => {
    const deadline = Date.now() + PHASE_TIMEOUT_MS
    while (!done()) {
      if (failure) throw failure
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise<void>((resolve) => {
        wake = resolve
        setTimeout(resolve, 1000).unref() // (and look at the deadline now and then)
      })
    }
  }

  try {
    for (let index = 0; index < config.members; index++) {
      const args: TransferMemberArgs = { group, index, join: config.join }
      const child = forkMember('bench-transfer-member', args, (text) => {
        c.output = (c.output + text).slice(-OUTPUT_TAIL)
      })
      const c: Child = { index, process: child, output: '', view: 0, reports: { troupe: [], tcp: [] } }
      children.push(c)
      child.on('message', (m: TransferToParent) => {
        if (m.t === 'ready') c.port = m.port
        else if (m.t === 'view') c.view = m.size
        else if (m.t === 'troupe' || m.t === 'tcp') c.reports[m.t].push(m.report)
        else if (m.t === 'failed') failure ??= new Error(`member ${index} failed: ${m.message}`)
        wake()
      })
      child.on('exit', (code, signal) => {
        if (code !== 0) failure ??= new Error(`member ${index} ${signal ? `was killed by ${signal}` : `exited with status ${code}`}${c.output ? `:\n${c.output.trim()}` : ''}`)
        wake()
      })
    }
    const send = (c: Child, m: TransferToMember): void => void c.process.send(m)
    await until(`a view of all ${config.members} members`, () => children.every((c) => c.port !== undefined && c.view === config.members))
    const [source, ...receivers] = children as [Child, ...Child[]]
    const size = `${(bytes / 2 ** 20).toFixed(0)} MiB`
    const phases: TransferPhase[] = []

    log(`group.transfer(): ${size} from member 0 to ${receivers.length} receivers`)
    send(source, { cmd: 'troupe', bytes })
    await until('the transfer', () => source.reports.troupe.length === 1 && receivers.every((c) => c.reports.troupe.length === 1))
    phases.push(phase('troupe', bytes, source.reports.troupe[0]!, receivers.map((c) => c.reports.troupe[0]!), (r) => r.bytes === bytes))

    log(`${receivers.length} TCP streams: ${size} from member 0's process to each receiver's`)
    send(source, { cmd: 'tcp', bytes, ports: receivers.map((c) => c.port!) })
    await until('the TCP streams', () => source.reports.tcp.length === 1 && receivers.every((c) => c.reports.tcp.length === 1))
    const crc = source.reports.tcp[0]!.crc
    phases.push(phase('tcp', bytes, source.reports.tcp[0]!, receivers.map((c) => c.reports.tcp[0]!), (r) => r.bytes === bytes && r.crc === crc))

    for (const c of children) send(c, { cmd: 'finish' })
    const result: TransferBenchResult = { bytes, receivers: receivers.length, phases }
    process.stdout.write(config.json ? `${JSON.stringify(result)}\n` : formatTransfer(result))
    return phases.every((p) => p.verified) ? 0 : 1
  } catch (err) {
    process.stderr.write(`troupe bench: ${(err as Error).message}\n`)
    return 1
  } finally {
    // Members leave on 'finish'; whatever is still running a moment later is killed.
    await new Promise((resolve) => setTimeout(resolve, 500))
    killAll()
    release()
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
