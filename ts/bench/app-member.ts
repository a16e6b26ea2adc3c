// One member process of `troupe bench --app` (the hidden `troupe
// bench-app-member`). Member 0 asks and publishes; the others answer its
// requests and receive what it publishes, as the parent (app.ts) says,
// phase by phase, and report what it cost them.
import { performance } from 'node:perf_hooks'

import { Group, type JoinOptions, type Subscription } from '../index.js'
import { Histogram } from './histogram.js'

export interface AppMemberArgs {
  group: string
  index: number
  join: JoinOptions
}

/** How receivers take the publisher's messages: no subject ('message'), every subject ('md.>'), or one subject of 100. */
export type ListenMode = 'plain' | 'all' | 'one'
export const SUBJECTS = 100
const SIZE = 100

export type AppToMember =
  | { cmd: 'requests'; responses: 'first' | 'all'; replies: 'direct' | 'multicast'; seconds: number; inFlight: number }
  | { cmd: 'listen'; mode: ListenMode }
  | { cmd: 'publish'; mode: ListenMode; seconds: number }
  | { cmd: 'finish' }

export interface RequestReport {
  responses: 'first' | 'all'
  replies: 'direct' | 'multicast'
  /** One request at a time: latency in µs. */
  p50: number
  p99: number
  sequential: number
  /** `inFlight` requests at a time: requests/s. */
  perSecond: number
}

export type AppToParent =
  | { t: 'view'; size: number }
  | { t: 'requests'; report: RequestReport }
  | { t: 'listening' }
  | { t: 'published'; sent: number; ms: number; cpuMs: number }
  | { t: 'received'; count: number; ms: number; cpuMs: number }
  | { t: 'failed'; message: string }

const cpuMs = (since: NodeJS.CpuUsage): number => {
  const u = process.cpuUsage(since)
  return (u.user + u.system) / 1000
}

export async function runAppMember(args: AppMemberArgs): Promise<void> {
  const toParent = (m: AppToParent): void => void process.send!(m)
  process.on('disconnect', () => process.exit(1))
  const group = await Group.join(args.group, { ...args.join, name: `bench-${args.index}` })
  group.on('view', (v) => toParent({ t: 'view', size: v.members.length }))
  const reply = Buffer.from('ok')
  group.on('request', () => reply)

  // Receivers: one phase of listening at a time; the publisher's 3-byte 'end' (no subject) closes it.
  let subscription: Subscription | null = null
  let count = 0
  let started = 0
  let cpu = process.cpuUsage()
  group.on('message', (m) => {
    if (m.data.length === SIZE) count++
    else toParent({ t: 'received', count, ms: performance.now() - started, cpuMs: cpuMs(cpu) })
  })
  const listen = (mode: ListenMode): void => {
    subscription?.unsubscribe()
    subscription = mode === 'plain' ? null : group.subscribe(mode === 'all' ? 'md.>' : 'md.s7', () => count++)
    count = 0
    started = performance.now()
    cpu = process.cpuUsage()
  }

  process.on('message', (m: AppToMember) => {
    if (m.cmd === 'requests') void requests(group, m).then((report) => toParent({ t: 'requests', report }), fail)
    else if (m.cmd === 'listen') {
      listen(m.mode)
      toParent({ t: 'listening' })
    } else if (m.cmd === 'publish') void publish(group, m.mode, m.seconds).then((r) => toParent({ t: 'published', ...r }), fail)
    else if (m.cmd === 'finish') void group.leave().finally(() => process.exit(0))
  })
  toParent({ t: 'view', size: group.view.members.length })
}

function fail(err: unknown): void {
  process.send!({ t: 'failed', message: err instanceof Error ? err.message : String(err) })
}

/** Who asks: a member (Group) or a client (Client). */
interface Asker {
  request: Group['request']
  readonly view: Group['view']
}
/** Who publishes: a member or a client. */
interface Publisher {
  send(data: Uint8Array | string, options?: { subject: string }): boolean
  once(event: 'drain', listener: () => void): unknown
}

export async function requests(group: Asker, m: Extract<AppToMember, { cmd: 'requests' }>, asked = group.view.members.length - 1): Promise<RequestReport> {
  const data = Buffer.alloc(64)
  const want = asked
  const check = (got: { length: number }): void => {
    if (got.length !== (m.responses === 'first' ? 1 : want)) throw new Error(`request(): ${got.length} responses, expected ${m.responses === 'first' ? 1 : want}`)
  }
  // One at a time: the latency of each.
  const histogram = new Histogram()
  let sequential = 0
  const half = (m.seconds * 1000) / 2
  let end = performance.now() + half
  while (performance.now() < end) {
    const t0 = performance.now()
    check(await group.request(data, { responses: m.responses, replies: m.replies }))
    histogram.record(Math.round((performance.now() - t0) * 1000))
    sequential++
  }
  // inFlight at a time: the rate.
  let done = 0
  const t0 = performance.now()
  end = t0 + half
  await Promise.all(Array.from({ length: m.inFlight }, async () => {
    while (performance.now() < end) {
      check(await group.request(data, { responses: m.responses, replies: m.replies }))
      done++
    }
  }))
  const perSecond = done / ((performance.now() - t0) / 1000)
  return { responses: m.responses, replies: m.replies, p50: histogram.quantile(0.5), p99: histogram.quantile(0.99), sequential, perSecond }
}

export async function publish(group: Publisher, mode: ListenMode, seconds: number): Promise<{ sent: number; ms: number; cpuMs: number }> {
  const data = Buffer.alloc(SIZE)
  const subjects = Array.from({ length: SUBJECTS }, (_, i) => ({ subject: `md.s${i}` }))
  const cpu = process.cpuUsage()
  const t0 = performance.now()
  const end = t0 + seconds * 1000
  let sent = 0
  while (performance.now() < end) {
    for (let k = 0; k < 256; k++) {
      const ok = mode === 'plain' ? group.send(data) : group.send(data, subjects[sent % SUBJECTS])
      sent++
      if (!ok) {
        await new Promise<void>((r) => group.once('drain', () => r()))
        break
      }
    }
    if ((sent & 4095) < 256) await new Promise((r) => setImmediate(r))
  }
  const ms = performance.now() - t0
  group.send('end')
  return { sent, ms, cpuMs: cpuMs(cpu) }
}
