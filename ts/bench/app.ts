// `troupe bench --app`: the application layer between member processes.
// Requests from member 0 to the others, 'first' and 'all', replies direct
// and multicast (latency one at a time, requests/s with 64 in flight); then 100 B messages from member 0 for
// --seconds each: without a subject ('message'), under 100 subjects to
// receivers subscribed to all of them, and to receivers subscribed to one
// (1% of the stream). Every member process is killed by pid on every way out.
import { randomBytes } from 'node:crypto'

import { CONNECT_KEYS, type ConnectOptions } from '../clients/client.js'
import { Group } from '../group.js'
import { publish, requests, type AppMemberArgs, type AppToParent, type ListenMode, type RequestReport } from './app-member.js'
import { Members } from './children.js'
import type { BenchConfig } from './options.js'

const IN_FLIGHT = 64

export interface StreamPhase {
  mode: ListenMode
  /** What member 0 sent per second, and the CPU it took. */
  sentPerSecond: number
  senderCpuPercent: number
  /** Per receiver: the stream's messages it went through per second (all of them, matching or not), and its CPU. */
  receivedPerSecond: number[]
  receiverCpuPercent: number[]
  /** Per receiver: messages handed to the application (all; the matching 1%). */
  handed: number[]
  sent: number
}

export interface AppBenchResult {
  members: number
  requests: RequestReport[]
  streams: StreamPhase[]
  /** A client (Group.connect) in the bench's own process: its requests to every member, and its 100 B messages. */
  client: { requests: RequestReport[]; stream: StreamPhase }
}

type Report = Exclude<AppToParent, { t: 'view' } | { t: 'failed' }>

export async function runAppBench(config: BenchConfig): Promise<number> {
  const group = `bench-app-${process.pid}-${randomBytes(3).toString('hex')}`
  const members = new Members<Report>('bench-app-member', config.members, (index): AppMemberArgs => ({ group, index, join: config.join }), 120_000)
  const log = (line: string): void => {
    if (!config.json) process.stderr.write(`troupe bench: ${line}\n`)
  }
  const take = <T extends Report['t']>(m: (typeof members.all)[number], t: T): Extract<Report, { t: T }> => {
    const i = m.reports.findIndex((r) => r.t === t)
    return m.reports.splice(i, 1)[0] as Extract<Report, { t: T }>
  }
  const has = (m: (typeof members.all)[number], t: Report['t']): boolean => m.reports.some((r) => r.t === t)
  try {
    await members.until(`a view of all ${config.members} members`, () => members.all.every((m) => m.view === config.members))
    const [asker, ...others] = members.all as [(typeof members.all)[number], ...(typeof members.all)]
    const result: AppBenchResult = { members: config.members, requests: [], streams: [], client: { requests: [], stream: null as never } }
    // One stream phase: the listeners listen, `start` has the publisher go (member 0, or the client here, whose report it returns).
    const stream = async (mode: ListenMode, listeners: typeof members.all, start: () => Promise<{ sent: number; ms: number; cpuMs: number }> | void): Promise<StreamPhase> => {
      for (const m of listeners) {
        m.reports = m.reports.filter((r) => r.t !== 'received') // (member 0's of its own streams: it delivers them too)
        members.send(m, { cmd: 'listen', mode })
      }
      await members.until('the receivers to listen', () => listeners.every((m) => has(m, 'listening')))
      for (const m of listeners) take(m, 'listening')
      const own = start()
      const sent = own ? await own : (await members.until('the stream to be sent', () => has(members.all[0]!, 'published')), take(members.all[0]!, 'published'))
      await members.until('the stream to end at every receiver', () => listeners.every((m) => has(m, 'received')))
      const got = listeners.map((m) => take(m, 'received'))
      return {
        mode,
        sent: sent.sent,
        sentPerSecond: Math.round(sent.sent / (sent.ms / 1000)),
        senderCpuPercent: Math.round((100 * sent.cpuMs) / sent.ms),
        receivedPerSecond: got.map((g) => Math.round(sent.sent / (g.ms / 1000))),
        receiverCpuPercent: got.map((g) => Math.round((100 * g.cpuMs) / g.ms)),
        handed: got.map((g) => g.count),
      }
    }
    for (const [responses, replies] of [['first', 'direct'], ['all', 'direct'], ['first', 'multicast'], ['all', 'multicast']] as const) {
      log(`request({ responses: '${responses}', replies: '${replies}' }) from member 0 to ${others.length}: one at a time, then ${IN_FLIGHT} in flight`)
      members.send(asker, { cmd: 'requests', responses, replies, seconds: config.seconds, inFlight: IN_FLIGHT })
      await members.until('the requests', () => has(asker, 'requests'))
      result.requests.push(take(asker, 'requests').report)
    }
    for (const mode of ['plain', 'all', 'one'] as const) {
      log(`100 B messages from member 0 for ${config.seconds} s: ${mode === 'plain' ? 'no subject' : `under 100 subjects, receivers subscribed to ${mode === 'all' ? 'all' : 'one'}`}`)
      result.streams.push(await stream(mode, others, () => members.send(asker, { cmd: 'publish', mode, seconds: config.seconds })))
    }
    log(`a client (Group.connect) in this process: request() to all ${config.members}, then 100 B messages for ${config.seconds} s`)
    const client = await Group.connect(group, connectOptions(config.join))
    try {
      for (const responses of ['first', 'all'] as const) {
        result.client.requests.push(await requests(client, { cmd: 'requests', responses, replies: 'direct', seconds: config.seconds, inFlight: IN_FLIGHT }, config.members))
      }
      result.client.stream = await stream('plain', members.all, () => publish(client, 'plain', config.seconds))
    } finally {
      await client.close()
    }
    process.stdout.write(config.json ? `${JSON.stringify(result)}\n` : formatApp(result))
    const expected = (s: StreamPhase): number => (s.mode === 'one' ? Math.floor(s.sent / 100) + (s.sent % 100 > 7 ? 1 : 0) : s.sent)
    return [...result.streams, result.client.stream].every((s) => s.handed.every((n) => n === expected(s))) ? 0 : 1
  } catch (err) {
    process.stderr.write(`troupe bench: ${(err as Error).message}\n`)
    return 1
  } finally {
    await members.close()
  }
}

/** The join options that also say how a client reaches the group. */
function connectOptions(join: BenchConfig['join']): ConnectOptions {
  return Object.fromEntries(Object.entries(join).filter(([k]) => (CONNECT_KEYS as readonly string[]).includes(k) && k !== 'name')) as ConnectOptions
}

export function formatApp(r: AppBenchResult): string {
  const table = (rows: string[][]): string => {
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)))
    return rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n')
  }
  const n = (x: number): string => Math.round(x).toLocaleString('en-US')
  const requests = table([
    ['request() to ' + (r.members - 1), 'latency p50', 'p99', `requests/s (${IN_FLIGHT} in flight)`],
    ...r.requests.map((q) => [`responses: '${q.responses}', replies: '${q.replies}'`, `${n(q.p50)} µs`, `${n(q.p99)} µs`, n(q.perSecond)]),
  ])
  const label = (s: StreamPhase): string => (s.mode === 'plain' ? 'no subject' : s.mode === 'all' ? "100 subjects, 'md.>'" : '100 subjects, one (1%)')
  const streams = table([
    ['100 B from member 0', 'sent/s', 'sender CPU', 'stream/s at each receiver', 'receiver CPU', 'handed to the app'],
    ...r.streams.map((s) => [label(s), n(s.sentPerSecond), `${s.senderCpuPercent}%`, s.receivedPerSecond.map(n).join(' '), s.receiverCpuPercent.map((x) => `${x}%`).join(' '), s.handed.map(n).join(' ')]),
  ])
  const c = r.client
  const client = table([
    [`a client (Group.connect), to ${r.members}`, 'latency p50', 'p99', `requests/s (${IN_FLIGHT} in flight)`],
    ...c.requests.map((q) => [`request(), responses: '${q.responses}'`, `${n(q.p50)} µs`, `${n(q.p99)} µs`, n(q.perSecond)]),
  ])
  const s = c.stream
  const clientStream = table([
    ['100 B from the client', 'sent/s', 'client CPU', 'msgs/s at each member', 'member CPU', 'handed to the app'],
    ['fifo, no subject', n(s.sentPerSecond), `${s.senderCpuPercent}%`, s.receivedPerSecond.map(n).join(' '), s.receiverCpuPercent.map((x) => `${x}%`).join(' '), s.handed.map(n).join(' ')],
  ])
  return `${requests}\n\n${streams}\n\n${client}\n\n${clientStream}\n`
}
