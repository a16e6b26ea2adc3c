// The options of `troupe bench`, each described once (name, unit, default,
// meaning): the parser, the validation and `--help` are all made from this table.

import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { JOIN_OPTIONS, ORDERS, type JoinOptions, type Order } from '../options.js'

/** Group.join options that `troupe bench` passes through as --kebab-case flags,
 *  with the library's own bounds and docs (options.ts). Unset: the library's default. */
export const PASSED_JOIN_OPTIONS = ['interface', 'datagramSize', 'window', 'statusInterval', 'nakDelay', 'suspectTimeout', 'receiveBuffer', 'busyPoll'] as const
type PassedJoinOptions = Pick<JoinOptions, (typeof PASSED_JOIN_OPTIONS)[number]>

/** What a bench run does; every member process gets a copy. */
export interface BenchConfig {
  members: number
  senders: number
  size: number
  seconds: number
  order: Order
  pings: number
  json: boolean
  /** Skip the view-change phase (join, leave and crash timings). */
  noViewChanges: boolean
  /** Passed to Group.join as they are. */
  join: PassedJoinOptions
  loss: number | undefined
  duplicate: number | undefined
  reorder: number | undefined
  /** Test tool: ms every received datagram is held (a path with a round trip of twice this). */
  delay: number | undefined
  seed: number | undefined
  joinTimeout: number
  drainTimeout: number
  transport: 'udp-multicast' | 'udp-unicast'
  /** How receivers take messages: a 'message' handler, or `for await` over group.messages(). */
  consume: 'handler' | 'iterator' | 'batch'
  /** Closed group: the key as 64 hex digits ('random' on the command line picks one). */
  key: string | undefined
  /** Fixed-rate phases, messages/s per sender, one after the other (--rate, --rates); empty: senders saturate. */
  rates: number[]
  /** Seconds at the start of each rate phase whose latencies are not recorded. */
  warmup: number
  /** Round trips a second during each rate phase (0: none). */
  pingRate: number
  /** One CSV line per rate and receiver on stdout instead of the table. */
  csv: boolean
  /** Write a self-contained HTML page of the rate phases here. */
  report: string | undefined
  /** Bytes of one object to move with group.transfer() (and over TCP, to compare) instead of the message phases. */
  transfer: number | undefined
  /** The application layer instead of the message phases: requests, and messages through subjects (app.ts). */
  app: boolean
}

/** A bad command line: the CLI prints the message and exits with status 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}

interface OptionSpec {
  /** The long option; the BenchConfig key is its camelCase (under `join` for a passed join option). */
  name: string
  join?: boolean
  kind: 'int' | 'number' | 'enum' | 'flag' | 'address' | 'key' | 'rates' | 'path' | 'bytes'
  help: string
  unit?: string
  default?: number | string | boolean
  min?: number
  /** Exclusive when maxExclusive is set. */
  max?: number
  maxExclusive?: boolean
  values?: readonly string[]
}

/** The header every message carries; see protocol.ts. */
export const MIN_SIZE = 16

export const BENCH_OPTIONS: readonly OptionSpec[] = [
  { name: 'members', kind: 'int', default: 4, min: 2, max: 64, help: 'member processes in all, senders included' },
  { name: 'senders', kind: 'int', default: 1, min: 1, max: 64, help: 'how many of the members send (members 0 .. senders-1)' },
  { name: 'size', kind: 'int', unit: 'bytes', default: 100, min: MIN_SIZE, max: 8 << 20, help: 'bytes per message' },
  { name: 'seconds', kind: 'number', unit: 's', default: 5, min: 0.1, max: 3600, help: 'how long the senders send' },
  // Only the orders the engine delivers today; the others come with the ordering issue.
  { name: 'order', kind: 'enum', default: 'fifo', values: ORDERS.filter((o) => o !== 'sync'), help: 'delivery order the senders ask for' },
  { name: 'pings', kind: 'int', default: 1000, min: 0, max: 1_000_000, help: 'sequential round trips (member 0 -> member 1 -> member 0) after the data phase (by default fewer for messages past 64 KiB: as many as 64 MiB each way, at least 20)' },
  { name: 'rate', kind: 'rates', help: "fixed rate instead of saturating: each sender sends this many messages/s (10k, 1M, 250000), paced by intended send time, and receivers time every message from when it should have been sent" },
  { name: 'rates', kind: 'rates', help: 'several fixed rates, one phase each, in one run (10k,100k,1M)' },
  { name: 'warmup', kind: 'number', unit: 's', default: 1, min: 0, max: 600, help: "the first seconds of each rate phase, sent but left out of the latencies" },
  { name: 'ping-rate', kind: 'int', unit: '1/s', default: 1000, min: 0, max: 100_000, help: 'round trips a second (member 0 -> member 1, one at a time) during each rate phase' },
  { name: 'json', kind: 'flag', default: false, help: 'print one JSON object on stdout instead of the table' },
  { name: 'csv', kind: 'flag', default: false, help: 'rate phases: print one CSV line per rate and receiver on stdout instead of the table' },
  { name: 'report', kind: 'path', help: 'rate phases: also write a self-contained HTML page (latency percentiles per rate, throughput over time) to this file' },
  { name: 'transfer', kind: 'bytes', help: 'instead of messages: move one object of this size (1GiB, 256MiB, 100MB) from member 0 to every other member with group.transfer(), then the same bytes over one plain TCP stream per receiver from the same process, and compare time, MB/s and CPU' },
  { name: 'app', kind: 'flag', default: false, help: "instead of messages: the application layer. Requests from member 0 to the others ('first' and 'all', replies direct and multicast: requests/s with 64 in flight, latency one at a time), then 100 B messages from member 0 plain, under 100 subjects to receivers subscribed to all ('>'), and to receivers subscribed to one (1%): messages/s and the receivers' CPU" },
  { name: 'no-view-changes', kind: 'flag', default: false, help: 'skip the last phase: how long a join, a leave and a crash (SIGKILL) take to become a view at every member (3+ members)' },
  { name: 'loss', kind: 'number', min: 0, max: 1, maxExclusive: true, help: 'test tool: probability that a member drops a datagram it receives' },
  { name: 'duplicate', kind: 'number', min: 0, max: 1, maxExclusive: true, help: 'test tool: probability that a received datagram is delivered twice' },
  { name: 'reorder', kind: 'number', min: 0, max: 1, maxExclusive: true, help: 'test tool: probability that a received datagram is held back' },
  { name: 'delay', kind: 'number', min: 0, max: 10_000, unit: 'ms', help: 'test tool: every member holds each datagram it receives this long first: a path with a round trip of twice this (the window follows it)' },
  { name: 'transport', kind: 'enum', default: 'udp-multicast', values: ['udp-multicast', 'udp-unicast'], help: "'udp-unicast': no multicast, member i listens on the group's port + i and sends to every member" },
  { name: 'consume', kind: 'enum', default: 'handler', values: ['handler', 'iterator', 'batch'], help: "how receivers take messages: a 'message' handler; 'iterator': for await over group.messages() (backpressure at its high-water mark); 'batch': a 'batch' listener reading each message in place (no Message objects)" },
  { name: 'key', kind: 'key', help: "closed group: 'random' (a new key for this run) or 64 hex digits; every datagram is sealed (AES-256-GCM)" },
  { name: 'seed', kind: 'int', min: 0, max: 2 ** 32 - 1, help: 'seed of the injected faults; member i uses seed + i (default: random, printed)' },
  ...PASSED_JOIN_OPTIONS.map((key): OptionSpec => {
    const spec = JOIN_OPTIONS[key]
    return {
      name: kebab(key),
      join: true,
      kind: key === 'interface' ? 'address' : spec.kind === 'integer' ? 'int' : 'number',
      help: lowerFirst(spec.doc.split('. ')[0]!.replace(/\.$/, '')),
      ...(spec.unit ? { unit: spec.unit } : {}),
      ...(spec.min !== undefined ? { min: spec.min } : {}),
      ...(spec.max !== undefined ? { max: spec.max } : {}),
    }
  }),
  { name: 'join-timeout', kind: 'number', unit: 's', default: 10, min: 0.1, max: 600, help: 'how long members may take to form the full view' },
  { name: 'drain-timeout', kind: 'number', unit: 's', default: 30, min: 0.1, max: 3600, help: 'how long receivers may take, after the senders stop, to deliver everything' },
]

/** The highest fixed rate (messages/s per sender). */
const MAX_RATE = 50_000_000

/** '10k', '1.5M', '250000' as messages/s; null if it is not one. */
export function parseRate(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(text)
  if (!m) return null
  const n = Number(m[1]) * (m[2] === '' ? 1 : m[2]!.toLowerCase() === 'k' ? 1e3 : 1e6)
  return Number.isInteger(n) ? n : Math.round(n)
}

const BYTE_UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 }

/** '1GiB', '256MiB', '100MB', '5000000' as bytes; null if it is not one. */
export function parseBytes(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim())
  const unit = m ? BYTE_UNITS[m[2]!.toLowerCase()] : undefined
  return m && unit !== undefined ? Math.round(Number(m[1]) * unit) : null
}

function lowerFirst(text: string): string {
  return /^[A-Z](?![A-Z])/.test(text) ? text[0]!.toLowerCase() + text.slice(1) : text
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
}

/** Parses `troupe bench` arguments. Throws UsageError; returns null for --help. */
export function parseBenchArgs(args: string[]): BenchConfig | null {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } }
  for (const o of BENCH_OPTIONS) options[o.name] = { type: o.kind === 'flag' ? 'boolean' : 'string' }
  let values: Record<string, string | boolean | undefined>
  try {
    const parsed = parseArgs({ args, options, strict: true, allowPositionals: true })
    if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument '${parsed.positionals[0]}'`)
    values = parsed.values as Record<string, string | boolean | undefined>
  } catch (err) {
    if (err instanceof UsageError) throw err
    // parseArgs' own messages are clear but long; keep their first sentence.
    throw new UsageError(String((err as Error).message).split('. ')[0]!.replace(/\.$/, ''))
  }
  if (values.help) return null

  const join: Record<string, unknown> = {}
  const config: Record<string, unknown> = { join }
  for (const o of BENCH_OPTIONS) {
    const raw = values[o.name]
    const value = raw === undefined ? o.default : convert(o, raw)
    if (!o.join) config[camel(o.name)] = value
    else if (value !== undefined) join[camel(o.name)] = value
  }
  const { rate, ...rest } = config as unknown as BenchConfig & { rate: number[] | undefined }
  const c = rest as BenchConfig
  // Round trips of large messages: 1,000 of 8 MiB each way would take minutes.
  if (values.pings === undefined && c.size > 64 << 10) c.pings = Math.max(20, Math.min(c.pings, Math.floor((64 << 20) / c.size)))
  if (c.senders > c.members) throw new UsageError(`--senders (${c.senders}) cannot exceed --members (${c.members})`)
  if (rate !== undefined && c.rates !== undefined) throw new UsageError('give --rate or --rates, not both')
  if (rate !== undefined && rate.length !== 1) throw new UsageError('--rate takes one rate (several: --rates)')
  c.rates = rate ?? c.rates ?? []
  if (c.json && c.csv) throw new UsageError('give --json or --csv, not both')
  if (c.transfer !== undefined && (c.rates.length > 0 || c.csv || c.report !== undefined)) throw new UsageError('--transfer is a run of its own: not with --rate, --rates, --csv or --report')
  if (c.app && (c.transfer !== undefined || c.rates.length > 0 || c.csv || c.report !== undefined)) throw new UsageError('--app is a run of its own: not with --transfer, --rate, --rates, --csv or --report')
  if ((c.csv || c.report !== undefined) && c.rates.length === 0) throw new UsageError(`--${c.csv ? 'csv' : 'report'} is for rate phases: give --rate or --rates`)
  return c
}

function convert(o: OptionSpec, raw: string | boolean): number | string | boolean {
  if (o.kind === 'flag') return raw
  const text = String(raw)
  const flag = `--${o.name}`
  switch (o.kind) {
    case 'enum':
      if (!o.values!.includes(text)) throw new UsageError(`${flag} must be one of ${o.values!.join(', ')} (got '${text}')`)
      return text
    case 'key':
      if (text === 'random') return randomBytes(32).toString('hex')
      if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new UsageError(`${flag} must be 'random' or 64 hex digits (a 32-byte key)`)
      return text.toLowerCase()
    case 'rates': {
      const rates = text.split(',').map((part) => parseRate(part.trim()))
      if (rates.some((r) => r === null)) throw new UsageError(`${flag} must be messages/s such as 10k, 250000 or 1M${o.name === 'rates' ? ', separated by commas' : ''} (got '${text}')`)
      for (const r of rates) {
        if (r! < 1 || r! > MAX_RATE) throw new UsageError(`${flag} must be between 1 and ${MAX_RATE.toLocaleString('en-US')} messages/s (got '${text}')`)
      }
      return rates as unknown as number
    }
    case 'bytes': {
      const n = parseBytes(text)
      if (n === null || n < 1 || n > 2 ** 40) throw new UsageError(`${flag} must be a size such as 1GiB, 256MiB, 100MB or 5000000 (bytes; at most 1TiB) (got '${text}')`)
      return n
    }
    case 'path':
      if (text === '') throw new UsageError(`${flag} must be a file name`)
      return text
    case 'address':
      if (!/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(text) || text.split('.').some((p) => Number(p) > 255)) {
        throw new UsageError(`${flag} must be an IPv4 address such as 127.0.0.1 (got '${text}')`)
      }
      return text
    case 'int':
    case 'number': {
      const n = text.trim() === '' ? NaN : Number(text)
      if (!Number.isFinite(n)) throw new UsageError(`${flag} must be a number (got '${text}')`)
      if (o.kind === 'int' && !Number.isInteger(n)) throw new UsageError(`${flag} must be a whole number (got '${text}')`)
      const unit = o.unit ? ` ${o.unit}` : ''
      if (o.min !== undefined && n < o.min) throw new UsageError(`${flag} must be at least ${o.min}${unit} (got ${text})`)
      if (o.max !== undefined && (o.maxExclusive ? n >= o.max : n > o.max)) {
        throw new UsageError(`${flag} must be ${o.maxExclusive ? 'below' : 'at most'} ${o.max}${unit} (got ${text})`)
      }
      return n
    }
  }
}

export function benchHelp(): string {
  const rows: Array<[string, string]> = BENCH_OPTIONS.map((o): [string, string] => {
    const arg = o.kind === 'flag' ? '' : o.kind === 'bytes' ? ' <size>' : o.kind === 'enum' ? ` <${o.name}>` : o.kind === 'address' ? ' <ip>' : o.kind === 'key' ? ' <random|hex>' : o.kind === 'rates' ? (o.name === 'rates' ? ' <r,r,..>' : ' <r>') : o.kind === 'path' ? ' <file>' : ' <n>'
    const bits = [o.help]
    if (o.kind === 'enum') bits.push(`: ${o.values!.join(', ')}`)
    if (o.unit) bits.push(` [${o.unit}]`)
    if (o.default !== undefined && o.kind !== 'flag') bits.push(` (default ${o.default})`)
    if (o.join) bits.push(` (Group.join ${camel(o.name)}; default: the library's)`)
    return [`--${o.name}${arg}`, bits.join('')]
  })
  rows.push(['-h, --help', 'this text'])
  const width = Math.max(...rows.map(([a]) => a.length)) + 2
  const wrap = (text: string): string => {
    const lines: string[] = []
    let line = ''
    for (const word of text.split(' ')) {
      if (line && 2 + width + line.length + 1 + word.length > 80) {
        lines.push(line)
        line = word
      } else line = line ? `${line} ${word}` : word
    }
    lines.push(line)
    return lines.join(`\n${' '.repeat(2 + width)}`)
  }
  return [
    'Usage: troupe bench [options]',
    '',
    'Runs one group of member processes on this host (loopback multicast unless',
    '--interface says otherwise). Members 0 .. senders-1 send as fast as flow',
    'control allows for --seconds; every member that delivers data reports',
    'messages/s, MB/s, one-way latency under load and anything lost, duplicated',
    'or out of order; then member 0 pings member 1 sequentially for the',
    'unloaded round trip. With --rate or --rates the senders send at fixed rates',
    'instead, one phase per rate, and receivers report one-way latency',
    'percentiles (p50 to p99.99, and max) with round trips under that load.',
    'With --transfer SIZE it moves one object from member 0 to the others',
    'with group.transfer(), then the same bytes over plain TCP, and compares.',
    'With --app it measures requests and subjects (the application layer).',
    'Exit status: 0 if nothing was lost or misordered,',
    '1 if something was or a member failed, 2 on a bad command line.',
    '',
    'Options:',
    ...rows.map(([a, b]) => `  ${a.padEnd(width)}${wrap(b)}`),
    '',
    'The defaults match ../shared/peers: 1 sender -> 3 receivers, 100 B, 5 s.',
  ].join('\n')
}
