// Every option of Group.join in one table: name, unit, default and meaning,
// and the checks that turn a wrong value into a TypeError or RangeError that
// names the option. Nothing reaches C++ unchecked (and C++ checks again).
import { isIPv4 } from 'node:net'

import { argType, TroupeError, TroupeRangeError, TroupeTypeError } from './errors.js'

export type Order = 'unordered' | 'fifo' | 'causal' | 'total' | 'safe' | 'sync'
export const ORDERS: readonly Order[] = ['unordered', 'fifo', 'causal', 'total', 'safe', 'sync']

export interface InjectOptions {
  /** Probability that a received datagram is dropped. */
  loss?: number
  /** Probability that a received datagram is processed twice. */
  duplicate?: number
  /** Probability that a received datagram is held back and processed after later ones. */
  reorder?: number
  /** Seed of the injector's generator (runs with the same seed drop the same way). */
  seed?: number
  /** Milliseconds every received datagram is held before it is processed (in order): a path with a round trip of twice this. */
  delay?: number
}

export interface JoinOptions {
  address?: string
  port?: number
  interface?: string
  name?: string
  ttl?: number
  datagramSize?: number
  window?: number
  maxMessageSize?: number
  maxPending?: number
  suspectTimeout?: number
  statusInterval?: number
  nakDelay?: number
  receiveOwn?: boolean
  receiveBuffer?: number
  sendBuffer?: number
  busyPoll?: number
  inject?: InjectOptions
  transport?: 'udp-multicast' | 'udp-unicast' | 'auto'
  peers?: string[] | (() => string[] | Promise<string[]>)
  dnsServers?: string[]
  resolveInterval?: number
  fallbackTimeout?: number
  partitions?: 'primary' | 'merge'
  slowReceiver?: 'wait' | 'evict'
  slowReceiverTimeout?: number
  discovery?: number
  joinTimeout?: number
  key?: Uint8Array
  getState?: () => Uint8Array
  setState?: (state: Uint8Array) => void
  /** Aborting it while join() waits rejects join() with an AbortError (and closes the member). */
  signal?: AbortSignal
}

export interface ResolvedOptions {
  address: string
  port: number
  interface: string
  name: string
  ttl: number
  datagramSize: number
  window: number
  maxMessageSize: number
  maxPending: number
  suspectTimeout: number
  statusInterval: number
  nakDelay: number
  receiveOwn: boolean
  receiveBuffer: number
  sendBuffer: number
  busyPoll: number
  inject: Required<InjectOptions> | null
  transport: 'udp-multicast' | 'udp-unicast' | 'auto'
  /** udp-unicast: every member's address, parsed. */
  peers: { address: string; port: number }[]
  /** udp-unicast: where else members are found, looked at again every resolveInterval (discovery.ts); null: nowhere else. */
  discover: PeerSources | null
  dnsServers: string[]
  resolveInterval: number
  fallbackTimeout: number
  partitions: 'primary' | 'merge'
  slowReceiver: 'wait' | 'evict'
  slowReceiverTimeout: number
  discovery: number
  joinTimeout: number
  key: Uint8Array | null
  getState: (() => Uint8Array) | undefined
  setState: ((state: Uint8Array) => void) | undefined
  signal: AbortSignal | undefined
}

type Kind = 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'function' | 'bytes' | 'signal' | 'entries'
export interface Spec {
  kind: Kind
  unit?: string
  min?: number
  max?: number
  /** A string option's allowed values (the first is the default, unless `default` says otherwise). */
  values?: readonly string[]
  /** The default, stated here once: resolve() uses it and the doc ends with it. */
  default?: number | string | boolean
  /** A default that depends on other options: what the doc says (resolve() computes it). */
  defaultIs?: string
  /** What the option means (the doc below adds the default). */
  doc: string
  /** Named in the API contract but built by a later part of troupe. */
  later?: string
}

const MiB = 1 << 20
export const KEY_BYTES = 32

/** The options of Group.join, described once: kind, unit, range, allowed values, default and meaning. */
const SPECS: Readonly<Record<keyof JoinOptions, Spec>> = {
  address: { kind: 'string', defaultIs: 'derived from the group name, in 239.192.0.0/16', doc: 'IPv4 multicast address of the group (224.0.0.0/4).' },
  port: { kind: 'integer', min: 1, max: 65535, defaultIs: 'derived from the group name, 40000-59999', doc: 'UDP port of the group.' },
  interface: { kind: 'string', default: '127.0.0.1', doc: 'IPv4 address of the interface to send and receive on; the default is loopback: reaching other hosts is an explicit choice.' },
  name: { kind: 'string', defaultIs: 'host-pid', doc: "Member name, 1 to 64 bytes without '#'; the member id is name#incarnation (16 hex digits). A live member's name is its own: a second member joining with it is refused (ERR_TROUPE_NAME_TAKEN)." },
  ttl: { kind: 'integer', min: 0, max: 255, default: 1, doc: 'Multicast TTL (1: this network segment).' },
  datagramSize: { kind: 'integer', unit: 'bytes', min: 512, max: 65507, defaultIs: '65507 on loopback (the largest UDP payload: its MTU is 64 KiB, so no IP fragments; fewer, larger datagrams cost the kernel less a byte), 1472 elsewhere (Ethernet MTU)', doc: 'Largest datagram sent; messages are packed into datagrams of up to this size.' },
  window: { kind: 'integer', unit: 'bytes', min: 64 * 1024, max: 4096 * MiB, default: 2 * MiB, doc: 'Flow-control window: how far (in datagram bytes) a sender may run ahead of what every member holds; for messages of several datagrams it grows to hold 64 of them, and where the measured rate gains from it (a long round trip) it grows by trying; at most 4 × this.' },
  maxMessageSize: { kind: 'integer', unit: 'bytes', min: 1, max: 256 * MiB, default: 8 * MiB, doc: 'Largest message accepted by send(); larger messages are fragmented up to this.' },
  maxPending: { kind: 'integer', unit: 'bytes', min: 0, max: 4096 * MiB, default: 64 * MiB, doc: 'Bytes send() may queue while the window is full; past this send() throws ERR_TROUPE_BACKPRESSURE instead of growing.' },
  suspectTimeout: { kind: 'number', unit: 'ms', min: 10, max: 3_600_000, default: 1000, doc: 'A member not heard from for this long is suspected, and the coordinator installs a view without it. Heartbeats come from the native I/O thread, so a busy event loop or a GC pause does not cause suspicion.' },
  statusInterval: { kind: 'number', unit: 'ms', min: 0.1, max: 10_000, default: 10, doc: 'How often each member multicasts STATUS (heartbeat and acks). Past 16 members it grows with the group (× members / 16, at most suspectTimeout / 8), so a member reads about 16 STATUS an interval whatever the size.' },
  nakDelay: { kind: 'number', unit: 'ms', min: 0, max: 10_000, default: 1, doc: 'How long a gap may stay open (reordering) before it is NAKed; jittered ±50%.' },
  receiveOwn: { kind: 'boolean', default: true, doc: "Deliver this member's own messages to it." },
  receiveBuffer: { kind: 'integer', unit: 'bytes', min: 0, max: 1024 * MiB, default: 8 * MiB, doc: 'Kernel receive buffer asked for each socket (forced when root).' },
  sendBuffer: { kind: 'integer', unit: 'bytes', min: 0, max: 1024 * MiB, default: 4 * MiB, doc: 'Kernel send buffer.' },
  busyPoll: { kind: 'number', unit: 'µs', min: 0, max: 10_000, default: 0, doc: 'For latency-critical groups: after receiving, the JS thread keeps reading the sockets until nothing has come for this long, instead of going back to sleep (a wake-up costs 15-20 µs on a VM). Costs CPU while traffic flows; the event loop gets control back at least every millisecond. 0 is off; the sequencer (the view\'s coordinator) polls 50 µs anyway while it places total or safe messages, since every one of them waits for its hop.' },
  inject: { kind: 'object', defaultIs: 'off', doc: 'Test tool: seeded loss / duplication / reordering of received datagrams, and a delay of every one ({ loss, duplicate, reorder, seed, delay (ms) }: a path with a round trip); never use it in production.' },
  transport: { kind: 'string', values: ['udp-multicast', 'udp-unicast', 'auto'], doc: "'udp-multicast': IP multicast on address:port. 'udp-unicast': for networks without multicast; each member listens on interface:port and sends what is for the group to every address in peers (and to members it has heard from), with the same guarantees. 'auto': multicast, and unicast to each member that says it does not hear our multicast (within fallbackTimeout): a mixed network keeps every guarantee; its STATUS also goes by unicast to every member it knows of (peers, if given, and any member heard), so that one whose multicast is lost is still heard." },
  fallbackTimeout: { kind: 'number', unit: 'ms', min: 50, max: 600_000, default: 1000, doc: "transport 'auto': a member heard by unicast whose multicast has not reached us for this long is asked to send to us by unicast too (and asked to stop once its multicast has come again for as long)." },
  peers: { kind: 'entries', doc: "udp-unicast (and 'auto', where they are the addresses also sent STATUS by unicast): where members are, each entry 'ip:port', 'dns:name:port' (the name's A records, looked up again every resolveInterval: a Kubernetes headless service), 'srv:name' (its SRV records: names and ports) or 'file:path' (a file of such entries, one a line, read again every resolveInterval); or a function returning such entries (called every resolveInterval). This member's own address may be among them. Members tell each other the addresses they know (gossip), so a newcomer that finds one live member finds all of them." },
  dnsServers: { kind: 'entries', defaultIs: "the system's (/etc/resolv.conf)", doc: "DNS servers for 'dns:' and 'srv:' peers, 'ip' or 'ip:port' each." },
  resolveInterval: { kind: 'number', unit: 'ms', min: 100, max: 3_600_000, default: 5000, doc: "How often 'dns:', 'srv:' and 'file:' peers (and a peers function) are looked at again." },
  partitions: { kind: 'string', values: ['primary', 'merge'], doc: "'primary': only a side holding a majority of the last view goes on; a minority side emits 'blocked', delivers nothing new, and rejoins when the network heals. 'merge': every side goes on, and on healing the sides are merged into one view with a 'merge' event that names them (each side keeps its own state; reconciling is the application's)." },
  slowReceiver: { kind: 'string', values: ['wait', 'evict'], doc: "What a sender does about a member that holds its flow-control window full for slowReceiverTimeout: 'wait' (lossless: send() keeps returning false until it catches up) or 'evict' (the member is removed from the view, and joins again as a new incarnation when it can). Either way the group emits 'slow'." },
  slowReceiverTimeout: { kind: 'number', unit: 'ms', min: 10, max: 3_600_000, default: 5000, doc: "How long a member may hold a sender's window full before it counts as slow." },
  joinTimeout: { kind: 'number', unit: 'ms', min: 1, max: 3_600_000, defaultIs: '10 s or 10 suspectTimeouts, whichever is longer', doc: 'How long Group.join() waits for a view before it rejects with ERR_TROUPE_JOIN_TIMEOUT.' },
  discovery: { kind: 'number', unit: 'ms', min: 10, max: 600_000, default: 300, doc: 'How long a joiner listens for an existing group before it starts a new one (it never does while it hears members of one).' },
  key: { kind: 'bytes', defaultIs: 'none', doc: "32-byte group key: a closed group. Every datagram is encrypted and authenticated (AES-256-GCM) and replay-protected; a process without the key can neither read, inject nor join. Rotate with group.rotateKey(). Without a key the group is open to anyone on its network segment." },
  getState: { kind: 'function', doc: "Returns this member's state (a Uint8Array); called exactly at the boundary of a view that adds members, on the member chosen to give it. Set it (and setState) on every member." },
  setState: { kind: 'function', doc: "Receives the group's state when this member joins, before any message of its first view is delivered." },
  signal: { kind: 'signal', doc: 'An AbortSignal: aborting it while Group.join() waits rejects join() with an AbortError (code ABORT_ERR) and closes the member.' },
}

/** The default of a spec, as the doc says it. */
function defaultText(spec: Spec): string | undefined {
  if (spec.defaultIs !== undefined) return spec.defaultIs
  const d = spec.default ?? spec.values?.[0]
  if (d === undefined) return undefined
  if (typeof d === 'string') return `'${d}'`
  if (typeof d === 'number' && spec.unit === 'bytes' && d >= MiB && d % MiB === 0) return `${d / MiB} MiB`
  return String(d)
}

/** The options of Group.join, each with its default in its doc (made from the specs above). */
export const JOIN_OPTIONS: Readonly<Record<keyof JoinOptions, Spec>> = Object.freeze(Object.fromEntries(
  Object.entries(SPECS).map(([name, spec]) => {
    const d = defaultText(spec)
    return [name, Object.freeze({ ...spec, doc: d === undefined ? spec.doc : `${spec.doc} Default: ${d}.` })]
  }),
) as Record<keyof JoinOptions, Spec>)

/** An option's value as given, or its default (stated once, in SPECS). */
function given<T>(o: Record<string, unknown>, name: keyof JoinOptions): T {
  const spec = SPECS[name]
  return (o[name] ?? spec.default ?? spec.values?.[0]) as T
}

const INJECT_KEYS = ['loss', 'duplicate', 'reorder', 'seed', 'delay'] as const
const JOIN_KEYS = Object.keys(JOIN_OPTIONS)

/** The known word nearest to a misspelled one (case, a prefix, or one or two edits away), if any. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase()
  const byCase = candidates.find((c) => c.toLowerCase() === lower)
  if (byCase) return byCase
  let best: string | undefined
  let bestDistance = word.length <= 4 ? 1 : 2
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase())
    if (d <= bestDistance) [best, bestDistance] = [c, d - 1]
  }
  return best ?? candidates.find((c) => lower.length >= 4 && c.toLowerCase().startsWith(lower.slice(0, 4)))
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    row = next
  }
  return row[b.length]!
}

/**
 * Refuses keys of `options` that are not in `known`, naming the key (and a
 * near miss, if there is one). `what` says whose options they are.
 */
export function checkKeys(what: string, options: object, known: readonly string[], prefix = ''): void {
  for (const key in options) {
    if (known.includes(key)) continue
    const hint = closest(key, known)
    throw new TroupeTypeError('ERR_TROUPE_UNKNOWN_OPTION', `Unknown option '${prefix}${key}' of ${what}${hint ? ` (did you mean '${prefix}${hint}'?)` : ''}; the options are ${known.map((k) => prefix + k).join(', ')}`)
  }
}

/** ERR_INVALID_ARG_VALUE: `what` must be one of `allowed`. */
export function oneOf<T extends string>(what: string, allowed: readonly T[], value: unknown): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T
  const hint = typeof value === 'string' ? closest(value, allowed) : undefined
  throw new TroupeRangeError('ERR_INVALID_ARG_VALUE', `${what} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${typeof value === 'string' ? `'${value}'` : String(value)}${hint ? ` (did you mean '${hint}'?)` : ''}`)
}

function check(name: string, spec: Spec, value: unknown): void {
  const label = `option ${name}`
  switch (spec.kind) {
    case 'string':
      if (typeof value !== 'string') throw argType(label, 'a string', value)
      if (spec.values) oneOf(label, spec.values, value)
      return
    case 'boolean':
      if (typeof value !== 'boolean') throw argType(label, 'a boolean', value)
      return
    case 'object':
      if (typeof value !== 'object' || value === null) throw argType(label, 'an object', value)
      return
    case 'entries': // (an array of strings, or a function returning one: its entries are checked where they are read)
      if (!Array.isArray(value) && typeof value !== 'function') throw argType(label, 'an array of strings or a function', value)
      return
    case 'function':
      if (typeof value !== 'function') throw argType(label, 'a function', value)
      return
    case 'bytes':
      if (!(value instanceof Uint8Array)) throw argType(label, 'a Uint8Array', value)
      return
    case 'signal':
      if (!(value instanceof AbortSignal)) throw argType(label, 'an AbortSignal', value)
      return
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || Number.isNaN(value)) throw argType(label, 'a number', value)
      if (spec.kind === 'integer' && !Number.isInteger(value)) throw new TroupeRangeError('ERR_OUT_OF_RANGE', `${label} must be an integer, got ${value}`)
      if (value < (spec.min ?? -Infinity) || value > (spec.max ?? Infinity)) {
        throw new TroupeRangeError('ERR_OUT_OF_RANGE', `${label} must be between ${spec.min} and ${spec.max}${spec.unit ? ` ${spec.unit}` : ''}, got ${value}`)
      }
    }
  }
}

const MAX_PEERS = 256

/** Where else a unicast group's members are found (discovery.ts reads them). */
export interface PeerSources {
  names: { host: string; port: number }[] // 'dns:'
  services: string[] // 'srv:'
  files: string[] // 'file:'
  fn: (() => string[] | Promise<string[]>) | null
}

const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?)*\.?$/

/**
 * One entry of option peers: 'ip:port', 'dns:name:port', 'srv:name' or
 * 'file:path' (`what` names it in errors).
 */
export function parsePeer(entry: unknown, what: string): { address: string; port: number } | { dns: { host: string; port: number } } | { srv: string } | { file: string } {
  const fail = () => new TroupeRangeError('ERR_INVALID_ARG_VALUE', `${what} must be 'ip:port' (IPv4, port 1-65535), 'dns:name:port', 'srv:name' or 'file:path', got ${JSON.stringify(entry)}`)
  if (typeof entry !== 'string') throw fail()
  if (entry.startsWith('file:')) {
    if (entry.length === 5) throw fail()
    return { file: entry.slice(5) }
  }
  if (entry.startsWith('srv:')) {
    if (!HOSTNAME.test(entry.slice(4))) throw fail()
    return { srv: entry.slice(4) }
  }
  const dns = entry.startsWith('dns:')
  const m = /^(.+):(\d{1,5})$/.exec(dns ? entry.slice(4) : entry)
  const port = m ? Number(m[2]) : 0
  if (!m || port < 1 || port > 65535) throw fail()
  if (dns) {
    if (!HOSTNAME.test(m[1]!)) throw fail()
    return { dns: { host: m[1]!, port } }
  }
  if (!isIPv4(m[1]!)) throw fail()
  return { address: m[1]!, port }
}

function parsePeers(transport: string, value: unknown): { peers: { address: string; port: number }[]; discover: PeerSources | null } {
  if (transport === 'udp-multicast' || (transport === 'auto' && value === undefined)) {
    if (value !== undefined) throw new TroupeTypeError('ERR_INVALID_ARG_TYPE', "option peers needs transport: 'udp-unicast' or 'auto' (a multicast group finds its members itself)")
    return { peers: [], discover: null }
  }
  if (typeof value === 'function') return { peers: [], discover: { names: [], services: [], files: [], fn: value as PeerSources['fn'] } }
  if (!Array.isArray(value) || value.length === 0) throw argType('option peers', "a non-empty array of 'ip:port' (or 'dns:', 'srv:', 'file:') strings, or a function returning one, with transport 'udp-unicast'", value)
  if (value.length > MAX_PEERS) throw new TroupeRangeError('ERR_OUT_OF_RANGE', `option peers may list at most ${MAX_PEERS} addresses, got ${value.length}`)
  const peers: { address: string; port: number }[] = []
  const discover: PeerSources = { names: [], services: [], files: [], fn: null }
  value.forEach((entry, i) => {
    const p = parsePeer(entry, `option peers[${i}]`)
    if ('address' in p) peers.push(p)
    else if ('dns' in p) discover.names.push(p.dns)
    else if ('srv' in p) discover.services.push(p.srv)
    else discover.files.push(p.file)
  })
  const dynamic = discover.names.length + discover.services.length + discover.files.length > 0
  return { peers, discover: dynamic ? discover : null }
}

function parseDnsServers(value: unknown): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value) || value.length === 0 || value.length > 16) throw argType('option dnsServers', "an array of 1 to 16 'ip' or 'ip:port' strings", value)
  return value.map((entry, i) => {
    const m = typeof entry === 'string' ? /^([^:]+)(?::(\d{1,5}))?$/.exec(entry) : null
    if (!m || !isIPv4(m[1]!) || (m[2] !== undefined && !(Number(m[2]) >= 1 && Number(m[2]) <= 65535))) {
      throw new TroupeRangeError('ERR_INVALID_ARG_VALUE', `option dnsServers[${i}] must be 'ip' or 'ip:port' (IPv4), got ${JSON.stringify(entry)}`)
    }
    return entry as string
  })
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5
  for (const b of Buffer.from(s, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0
  return h >>> 0
}

export function ipv4ToInt(address: string): number {
  const [a, b, c, d] = address.split('.').map(Number) as [number, number, number, number]
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0
}

/**
 * The default datagram on loopback: the largest UDP/IPv4 payload (loopback's
 * MTU is 64 KiB: no IP fragments). 1 -> 3 receivers, one sitting
 * (2026-12-04), against 32 KiB: 64 KiB messages 951-982 against 871-910
 * MB/s, 1 MiB 1,089-1,100 against 929-977, 8 MiB 768-775 against 587-608
 * (half the datagrams: fewer system calls and wake-ups a byte); 100 B and
 * 1,000 B within the sitting's noise (README). It was 32 KiB since
 * 2026-12-03 (8 KiB before).
 */
const LOOPBACK_DATAGRAM = 65507

/** Default address and port of a group: spread by a hash of its name. */
export function defaultEndpoint(group: string): { address: string; port: number } {
  const h = fnv1a(group)
  return { address: `239.192.${(h >>> 8) & 0xff}.${h & 0xff}`, port: 40000 + ((h >>> 16) % 20000) }
}

export function validateGroupName(group: unknown): string {
  if (typeof group !== 'string') throw argType('the group name', 'a string', group)
  if (group.length === 0 || Buffer.byteLength(group) > 255) throw new TroupeRangeError('ERR_OUT_OF_RANGE', `the group name must be 1 to 255 bytes long, got ${Buffer.byteLength(group)}`)
  return group
}

export function resolveJoinOptions(group: string, options: unknown): ResolvedOptions {
  if (options === undefined) options = {}
  if (typeof options !== 'object' || options === null) throw argType('the options of Group.join()', 'an object', options)
  const o = options as Record<string, unknown>
  checkKeys('Group.join()', o, JOIN_KEYS)
  for (const [key, value] of Object.entries(o)) {
    const spec = (SPECS as Record<string, Spec>)[key]!
    if (value === undefined) continue
    check(key, spec, value)
    if (spec.later) throw new TroupeError('ERR_TROUPE_UNSUPPORTED', `option ${key}: ${spec.later}`)
  }

  const derived = defaultEndpoint(group)
  const address = (o.address as string | undefined) ?? derived.address
  if (!isIPv4(address) || ipv4ToInt(address) >>> 28 !== 0xe) {
    throw new TroupeRangeError('ERR_INVALID_ARG_VALUE', `option address must be an IPv4 multicast address (224.0.0.0/4), got '${address}'`)
  }
  const iface = given<string>(o, 'interface')
  if (!isIPv4(iface)) throw new TroupeRangeError('ERR_INVALID_ARG_VALUE', `option interface must be an IPv4 address, got '${iface}'`)
  const transport = given<ResolvedOptions['transport']>(o, 'transport')
  const { peers, discover } = parsePeers(transport, o.peers)
  if (transport === 'udp-unicast' && o.address !== undefined) throw new TroupeTypeError('ERR_INVALID_ARG_TYPE', "option address is the multicast address: it does not go with transport 'udp-unicast' (use interface and port)")
  if ((o.getState === undefined) !== (o.setState === undefined)) {
    throw new TroupeTypeError('ERR_INVALID_ARG_TYPE', 'options getState and setState go together: give both or neither')
  }
  const key = o.key === undefined ? null : Uint8Array.from(o.key as Uint8Array)
  if (key && key.length !== KEY_BYTES) throw new TroupeRangeError('ERR_OUT_OF_RANGE', `option key must be ${KEY_BYTES} bytes, got ${key.length}`)
  const name = (o.name as string | undefined) ?? `${process.env.HOSTNAME || 'node'}-${process.pid}`
  if (Buffer.byteLength(name) > 64 || name.length === 0) throw new TroupeRangeError('ERR_OUT_OF_RANGE', `option name must be 1 to 64 bytes long, got ${Buffer.byteLength(name)}`)
  // A member id is name#incarnation: a '#' in the name would make ids ambiguous to read.
  if (name.includes('#')) throw new TroupeRangeError('ERR_INVALID_ARG_VALUE', `option name must not contain '#' (member ids are name#incarnation), got ${JSON.stringify(name)}`)
  const loopback = iface.startsWith('127.')
  const datagramSize = (o.datagramSize as number | undefined) ?? (loopback ? LOOPBACK_DATAGRAM : 1472)
  const window = given<number>(o, 'window')
  if (window < 4 * datagramSize) throw new TroupeRangeError('ERR_OUT_OF_RANGE', `option window must hold at least 4 datagrams (${4 * datagramSize} bytes), got ${window}`)

  let inject: Required<InjectOptions> | null = null
  if (o.inject !== undefined) {
    const i = o.inject as Record<string, unknown>
    checkKeys('Group.join()', i, INJECT_KEYS, 'inject.')
    const probability = (key: string) => {
      const v = i[key] ?? 0
      check(`inject.${key}`, { kind: 'number', min: 0, max: 1, doc: '' }, v)
      return v as number
    }
    const seed = i.seed ?? 1
    check('inject.seed', { kind: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, doc: '' }, seed)
    const delay = i.delay ?? 0
    check('inject.delay', { kind: 'number', unit: 'ms', min: 0, max: 10_000, doc: '' }, delay)
    inject = { loss: probability('loss'), duplicate: probability('duplicate'), reorder: probability('reorder'), seed: seed as number, delay: delay as number }
  }

  return {
    address,
    port: (o.port as number | undefined) ?? derived.port,
    interface: iface,
    name,
    ttl: given(o, 'ttl'),
    datagramSize,
    window,
    maxMessageSize: given(o, 'maxMessageSize'),
    maxPending: given(o, 'maxPending'),
    suspectTimeout: given(o, 'suspectTimeout'),
    statusInterval: given(o, 'statusInterval'),
    nakDelay: given(o, 'nakDelay'),
    receiveOwn: given(o, 'receiveOwn'),
    receiveBuffer: given(o, 'receiveBuffer'),
    sendBuffer: given(o, 'sendBuffer'),
    busyPoll: given(o, 'busyPoll'),
    inject,
    transport,
    peers,
    discover,
    dnsServers: parseDnsServers(o.dnsServers),
    resolveInterval: given(o, 'resolveInterval'),
    fallbackTimeout: given(o, 'fallbackTimeout'),
    partitions: given(o, 'partitions'),
    slowReceiver: given(o, 'slowReceiver'),
    slowReceiverTimeout: given(o, 'slowReceiverTimeout'),
    discovery: given(o, 'discovery'),
    joinTimeout: (o.joinTimeout as number | undefined) ?? Math.max(10_000, 10 * given<number>(o, 'suspectTimeout')),
    key,
    getState: o.getState as (() => Uint8Array) | undefined,
    setState: o.setState as ((state: Uint8Array) => void) | undefined,
    signal: o.signal as AbortSignal | undefined,
  }
}
