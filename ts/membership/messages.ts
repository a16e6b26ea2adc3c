// The membership protocol's messages, carried in CONTROL datagrams
// (native/wire.h). Byte 0 is the kind. Protocol messages are small and rare:
// their body is JSON, checked field by field on the way in. The bulk kind
// (state chunks) is binary. (Messages a member misses in a flush do not
// travel here: the reliability core relays them, see Core::Fetch.)
//
// Anything that does not decode to a well-formed message is dropped and
// counted by the caller, never acted on.

/** A view named across lines: its id and the member that started its line. */
export interface ViewRef {
  readonly id: number
  readonly founder: string
}

/** A ballot orders flush attempts: higher `n` wins, ties broken by coordinator id. */
export interface Ballot {
  readonly n: number
  readonly coord: string
}

export interface WireView {
  readonly id: number
  readonly members: readonly string[]
  /** The member that started this line of views (ids count within one line: two groups formed apart count separately until one joins the other). */
  readonly founder: string
}

/** What a member holds of one sender's stream: everything up to `upTo`, plus `extras` beyond it (unordered messages delivered early). */
export type Holding = readonly number[] // [upTo, ...extras]

/** The cut for one sender: deliver up to `upTo` (fetching from `holder`) and each extra [seq, holder]. */
export interface CutEntry {
  readonly upTo: number
  readonly holder: string
  readonly extras: readonly (readonly [number, string])[]
}

export type Control =
  | { kind: 'announce'; view: WireView; partitions: boolean }
  | { kind: 'join'; member: string }
  | { kind: 'refuse'; member: string; holder: string } // your name is held by this live member: not admitted
  | { kind: 'leave'; member: string }
  | { kind: 'suspect'; members: readonly string[] }
  /** Remove these members: they held the sender's window full too long (slowReceiver 'evict'). */
  | { kind: 'evict'; members: readonly string[] }
  | {
      kind: 'prepare'
      ballot: Ballot
      from: ViewRef // the coordinator's view
      merging: readonly ViewRef[] // other views brought into this one ('merge' mode, after a partition)
      members: readonly string[]
      excluded: readonly string[]
    }
  | {
      kind: 'report'
      ballot: Ballot
      view: number // the reporter's installed view id (0: none yet)
      founder: string // and its line ('' : none yet)
      members: readonly string[] // and its members
      seen: number // the highest view id it has seen anywhere
      sent: number // the highest seq of its own stream (the stream is paused)
      held: Readonly<Record<string, Holding>>
      ready: boolean // a joiner: it hears every proposed member
      last: Install | null // the install that made its current view
    }
  | { kind: 'cut'; ballot: Ballot; view: number; cut: Readonly<Record<string, CutEntry>> } // view: the id the install will have
  | { kind: 'done'; ballot: Ballot }
  | { kind: 'nack'; ballot: Ballot } // your PREPARE lost to this higher ballot
  | { kind: 'behind'; view: number } // I am in this view and missed your install of a later one
  | { kind: 'release'; ballot: Ballot } // a barrier flush (sync) is through: deliver up to the cut, then the sync messages, go on in the same view
  | Install
  | { kind: 'installed'; ballot: Ballot }
  | { kind: 'stateRequest'; view: number; offset: number; length: number }
  | { kind: 'stateChunk'; view: number; offset: number; total: number; bytes: Uint8Array }
  | { kind: 'via'; unicast: boolean } // fallback.ts (transport 'auto'): send to me by unicast too (I do not hear your multicast), or no longer
  | { kind: 'peers'; addresses: readonly string[] } // discovery.ts: the 'ip:port' of members the sender knows (udp-unicast gossip)
  | { kind: 'direct'; parts: DirectPart[] } // node/direct.ts: messages to one member
  | { kind: 'directAck'; seq: number } // every direct message up to seq arrived

export interface Install {
  readonly kind: 'install'
  readonly ballot: Ballot
  readonly view: WireView
  /** Per member of the new view that was in an old one: the seq its stream starts at in this view. */
  readonly starts: Readonly<Record<string, number>>
  /** Members whose old views were merged into this one (more than one side: a 'merge'). */
  readonly sides: readonly (readonly string[])[]
  /** The other sides' views this one absorbed (their late announces are stale). */
  readonly merged: readonly ViewRef[]
  /** Who gives the joiners the state (empty: no joiners, or no state). */
  readonly provider: string
}

const KIND = {
  announce: 1, join: 2, leave: 3, suspect: 4, prepare: 5, report: 6, cut: 7, done: 8,
  install: 9, installed: 10, stateRequest: 12, nack: 13, behind: 14, release: 15, evict: 16, refuse: 17, stateChunk: 21, direct: 22, directAck: 23, peers: 25, via: 26,
} as const
const KIND_NAME = Object.fromEntries(Object.entries(KIND).map(([k, v]) => [v, k])) as Record<number, Control['kind']>

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })
const CHUNK_HEADER = 1 + 8 * 3
/**
 * A DIRECT datagram: the kind, u16 count, then count × (u32 seq | u16 n | n
 * bytes). The seq's top bit says more of the same message follows (a
 * message past one datagram goes as pieces with consecutive seqs).
 */
export const DIRECT_HEADER = 3
export const DIRECT_PART = 6
const MORE = 0x8000_0000
export interface DirectPart {
  seq: number
  bytes: Uint8Array
  /** Not the message's last piece. */
  more?: boolean
}

/**
 * Direct parts after `kind` and `skip` bytes the caller fills in (the
 * clients' channel puts a session number there, clients/wire.ts).
 */
export function encodeParts(kind: number, parts: readonly DirectPart[], skip: number): Uint8Array {
  let size = DIRECT_HEADER + skip
  for (const part of parts) size += DIRECT_PART + part.bytes.length
  const out = new Uint8Array(size)
  const dv = new DataView(out.buffer)
  out[0] = kind
  dv.setUint16(1 + skip, parts.length, true)
  let at = DIRECT_HEADER + skip
  for (const part of parts) {
    dv.setUint32(at, part.more ? (part.seq | MORE) >>> 0 : part.seq, true)
    dv.setUint16(at + 4, part.bytes.length, true)
    out.set(part.bytes, at + DIRECT_PART)
    at += DIRECT_PART + part.bytes.length
  }
  return out
}

/** The direct parts of `p` from `at` (u16 count, then the parts, to the end); null if malformed or empty. */
export function decodeParts(p: Uint8Array, at: number): DirectPart[] | null {
  if (p.length < at + 2) return null
  const dv = new DataView(p.buffer, p.byteOffset, p.length)
  const count = dv.getUint16(at, true)
  const parts: DirectPart[] = []
  at += 2
  for (let i = 0; i < count; i++) {
    if (at + DIRECT_PART > p.length) return null
    const word = dv.getUint32(at, true), n = dv.getUint16(at + 4, true)
    const seq = (word & ~MORE) >>> 0
    if (seq === 0 || at + DIRECT_PART + n > p.length) return null
    const bytes = p.subarray(at + DIRECT_PART, at + DIRECT_PART + n)
    parts.push(word & MORE ? { seq, bytes, more: true } : { seq, bytes })
    at += DIRECT_PART + n
  }
  return count === 0 || at !== p.length ? null : parts
}

/**
 * CONTROL payloads whose kind byte is this or more are the clients' channel
 * (open groups, clients/wire.ts), not the membership protocol's.
 */
export const CLIENT_KINDS = 32

export function encodeControl(c: Control): Uint8Array {
  if (c.kind === 'directAck') {
    const out = new Uint8Array(5)
    out[0] = KIND.directAck
    new DataView(out.buffer).setUint32(1, c.seq, true)
    return out
  }
  if (c.kind === 'direct') return encodeParts(KIND.direct, c.parts, 0)
  if (c.kind === 'stateChunk') {
    const out = new Uint8Array(CHUNK_HEADER + c.bytes.length)
    const dv = new DataView(out.buffer)
    out[0] = KIND.stateChunk
    dv.setFloat64(1, c.view, true)
    dv.setFloat64(9, c.offset, true)
    dv.setFloat64(17, c.total, true)
    out.set(c.bytes, CHUNK_HEADER)
    return out
  }
  const { kind, ...body } = c
  const json = encoder.encode(JSON.stringify(body))
  const out = new Uint8Array(1 + json.length)
  out[0] = KIND[kind]
  out.set(json, 1)
  return out
}

/** Decodes and checks a CONTROL payload; null if it is not a well-formed message. */
export function decodeControl(p: Uint8Array): Control | null {
  if (p.length < 1) return null
  const kind = KIND_NAME[p[0]!]
  if (kind === undefined) return null
  try {
    if (kind === 'directAck') {
      if (p.length !== 5) return null
      const seq = new DataView(p.buffer, p.byteOffset, p.length).getUint32(1, true)
      return seq === 0 ? null : { kind, seq }
    }
    if (kind === 'direct') {
      const parts = decodeParts(p, 1)
      return parts === null ? null : { kind, parts }
    }
    if (kind === 'stateChunk') {
      if (p.length < CHUNK_HEADER) return null
      const dv = new DataView(p.buffer, p.byteOffset, p.length)
      const view = dv.getFloat64(1, true), offset = dv.getFloat64(9, true), total = dv.getFloat64(17, true)
      if (!isCount(view) || !isCount(offset) || !isCount(total) || offset + p.length - CHUNK_HEADER > total) return null
      return { kind, view, offset, total, bytes: p.subarray(CHUNK_HEADER) }
    }
    const body: unknown = JSON.parse(decoder.decode(p.subarray(1)))
    if (!isObject(body)) return null
    return CHECK[kind](body)
  } catch {
    return null
  }
}

// ------------------------------------------------------------ checks

type Obj = Record<string, unknown>
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isSeq = isCount
/** Member ids are `name#16 hex digits`; a line of views is named by a member id, with `@n` when a side of a partition starts one. */
const MEMBER = /^[^\u0000-\u001f]{0,64}#[0-9a-f]{16}$/
const LINE = /^[^\u0000-\u001f]{0,64}#[0-9a-f]{16}(@[0-9]{1,15})?$/
export const isMember = (v: unknown): v is string => typeof v === 'string' && v.length <= 90 && MEMBER.test(v)
const isLine = (v: unknown): v is string => typeof v === 'string' && v.length <= 110 && LINE.test(v)
const isMembers = (v: unknown): v is string[] => Array.isArray(v) && v.length <= 256 && v.every(isMember)
const isBallot = (v: unknown): v is Ballot => isObject(v) && isCount(v.n) && isMember(v.coord)
const isViewRef = (v: unknown): v is ViewRef => isObject(v) && isCount(v.id) && isLine(v.founder)
const isView = (v: unknown): v is WireView => isObject(v) && isCount(v.id) && isMembers(v.members) && v.members.length > 0 && isLine(v.founder)
const isHolding = (v: unknown): v is Holding => Array.isArray(v) && v.length >= 1 && v.length <= 65536 && v.every(isSeq)
const isRecordOf = <T>(v: unknown, check: (x: unknown) => x is T): v is Record<string, T> =>
  isObject(v) && Object.keys(v).length <= 256 && Object.entries(v).every(([k, x]) => isMember(k) && check(x))
const isCutEntry = (v: unknown): v is CutEntry =>
  isObject(v) && isSeq(v.upTo) && isMember(v.holder) && Array.isArray(v.extras) && v.extras.length <= 65536 &&
  v.extras.every((e) => Array.isArray(e) && e.length === 2 && isSeq(e[0]) && isMember(e[1]))

function checkInstall(b: Obj): Install | null {
  if (!isBallot(b.ballot) || !isView(b.view) || !isRecordOf(b.starts, isSeq) || !Array.isArray(b.sides) ||
      !b.sides.every(isMembers) || typeof b.provider !== 'string' || (b.provider !== '' && !isMember(b.provider)) ||
      !Array.isArray(b.merged) || b.merged.length > 16 || !b.merged.every(isViewRef)) return null
  return { kind: 'install', ballot: b.ballot, view: b.view, starts: b.starts, sides: b.sides, provider: b.provider, merged: b.merged }
}

const CHECK: Record<Exclude<Control['kind'], 'stateChunk' | 'direct' | 'directAck'>, (b: Obj) => Control | null> = {
  announce: (b) => (isView(b.view) && typeof b.partitions === 'boolean' ? { kind: 'announce', view: b.view, partitions: b.partitions } : null),
  join: (b) => (isMember(b.member) ? { kind: 'join', member: b.member } : null),
  refuse: (b) => (isMember(b.member) && isMember(b.holder) ? { kind: 'refuse', member: b.member, holder: b.holder } : null),
  leave: (b) => (isMember(b.member) ? { kind: 'leave', member: b.member } : null),
  suspect: (b) => (isMembers(b.members) ? { kind: 'suspect', members: b.members } : null),
  evict: (b) => (isMembers(b.members) ? { kind: 'evict', members: b.members } : null),
  prepare: (b) =>
    isBallot(b.ballot) && isViewRef(b.from) && Array.isArray(b.merging) && b.merging.length <= 16 && b.merging.every(isViewRef) &&
    isMembers(b.members) && isMembers(b.excluded)
      ? { kind: 'prepare', ballot: b.ballot, from: b.from, merging: b.merging, members: b.members, excluded: b.excluded }
      : null,
  report: (b) => {
    if (!isBallot(b.ballot) || !isCount(b.view) || (b.founder !== '' && !isLine(b.founder)) || !isMembers(b.members) ||
        !isCount(b.seen) || !isSeq(b.sent) || !isRecordOf(b.held, isHolding) || typeof b.ready !== 'boolean') return null
    let last: Install | null = null
    if (b.last !== null) {
      if (!isObject(b.last) || (last = checkInstall(b.last)) === null) return null
    }
    return { kind: 'report', ballot: b.ballot, view: b.view, founder: b.founder as string, members: b.members, seen: b.seen, sent: b.sent, held: b.held, ready: b.ready, last }
  },
  cut: (b) => (isBallot(b.ballot) && isCount(b.view) && isRecordOf(b.cut, isCutEntry) ? { kind: 'cut', ballot: b.ballot, view: b.view, cut: b.cut } : null),
  done: (b) => (isBallot(b.ballot) ? { kind: 'done', ballot: b.ballot } : null),
  nack: (b) => (isBallot(b.ballot) ? { kind: 'nack', ballot: b.ballot } : null),
  behind: (b) => (isCount(b.view) ? { kind: 'behind', view: b.view } : null),
  release: (b) => (isBallot(b.ballot) ? { kind: 'release', ballot: b.ballot } : null),
  install: checkInstall,
  installed: (b) => (isBallot(b.ballot) ? { kind: 'installed', ballot: b.ballot } : null),
  via: (b) => (typeof b.unicast === 'boolean' ? { kind: 'via', unicast: b.unicast } : null),
  peers: (b) =>
    Array.isArray(b.addresses) && b.addresses.length <= 1024 && b.addresses.every((a) => typeof a === 'string' && /^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$/.test(a))
      ? { kind: 'peers', addresses: b.addresses as string[] }
      : null,
  stateRequest: (b) =>
    isCount(b.view) && isCount(b.offset) && isCount(b.length) && b.length <= 1 << 20
      ? { kind: 'stateRequest', view: b.view, offset: b.offset, length: b.length }
      : null,
}

export function compareBallots(a: Ballot, b: Ballot): number {
  if (a.n !== b.n) return a.n - b.n
  return a.coord < b.coord ? -1 : a.coord > b.coord ? 1 : 0
}
