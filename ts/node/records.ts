// The one reader of the inbound records (native/boundary.h lays them out,
// native/records.h writes them): the live Group reads its ring's batches
// with it, the simulator a manual core's take(), the tests either.
import { fieldAt, RecordType } from '../boundary.js'
import { addon } from '../engine.js'

export type PeerDownReason = 'left' | 'silent' | 'forgotten'

/** Who most records are for: the member (member.ts's Member is one). */
export interface RecordTarget {
  /** A message: its bytes are `bytes[start, end)` (a view would cost an allocation the common path does without). */
  onMessage(peer: number, seq: number, view: number, order: number, frag: number, bytes: Uint8Array, start: number, end: number): void
  onPeerUp(peer: number, hex: string, name: string): void
  onPeerDown(peer: number, hex: string, reason: PeerDownReason): void
  onStable(peer: number, seq: number): void
  onControl(hex: string, payload: Uint8Array): void
  /**
   * Messages first..last of `peer`, sent in `view`, that the engine dropped:
   * no subscription here wants them, or the fragments of a message it could
   * not put together (their seqs only).
   */
  onSkipped(peer: number, view: number, first: number, last: number): void
  /** A message of fragments first..last, put together by the engine (native/assembly.h): `data` is all of it, JS's own. */
  onAssembled(peer: number, first: number, last: number, view: number, order: number, data: Uint8Array): void
}

/** What the shell around the member takes part in: 'slow' records, and when to stop. */
export interface RecordShell {
  onSlow(hex: string, lag: number): void
  /** True: stop before the next record (an iterator is full); readRecords() returns where. */
  stopped(): boolean
  /** The bytes of an assembled record's message, by its handle (the core's takeMessage), once; null if none waits. */
  takeMessage(handle: number): Uint8Array | null
  /**
   * Where 'messageAt' records point (the engine's receive memory); null
   * where none come (a copy taken with takeInbound() has none).
   */
  readonly receiveMemory: Uint8Array | null
}

/** Where the bytes of assembled records are: a core (an Engine, a ManualCore). */
export interface MessageSource {
  takeMessage(handle: number): Uint8Array | null
}

/** A shell with no 'slow' policy and nothing that stops the reading, around a core that puts messages together (the simulator's). */
export function plainShell(core: MessageSource | null): RecordShell {
  return { onSlow: () => {}, stopped: () => false, takeMessage: (handle) => core?.takeMessage(handle) ?? null, receiveMemory: null }
}

const REC_MESSAGE = RecordType.message
const REC_PEER_UP = RecordType.peerUp
const REC_PEER_DOWN = RecordType.peerDown
const REC_STABLE = RecordType.stable
const REC_SLOW = RecordType.slow
const REC_CONTROL = RecordType.control
const REC_SKIPPED = RecordType.skipped
const REC_ASSEMBLED = RecordType.assembled
const MESSAGE_SEQ = fieldAt('message', 'seq')
const MESSAGE_PEER = fieldAt('message', 'peer')
const MESSAGE_VIEW = fieldAt('message', 'view')
const MESSAGE_DATA = fieldAt('message', 'data')
const PEER_UP_PEER = fieldAt('peerUp', 'peer')
const PEER_UP_NAME_LENGTH = fieldAt('peerUp', 'nameLength')
const PEER_UP_ID = fieldAt('peerUp', 'id')
const PEER_UP_NAME = fieldAt('peerUp', 'name')
const PEER_DOWN_PEER = fieldAt('peerDown', 'peer')
const PEER_DOWN_REASON = fieldAt('peerDown', 'reason')
const PEER_DOWN_ID = fieldAt('peerDown', 'id')
const STABLE_PEER = fieldAt('stable', 'peer')
const STABLE_SEQ = fieldAt('stable', 'seq')
const SLOW_ID = fieldAt('slow', 'id')
const SLOW_LAG = fieldAt('slow', 'lag')
const CONTROL_SENDER = fieldAt('control', 'sender')
const CONTROL_PAYLOAD = fieldAt('control', 'payload')
const SKIPPED_PEER = fieldAt('skipped', 'peer')
const SKIPPED_VIEW = fieldAt('skipped', 'view')
const SKIPPED_FIRST = fieldAt('skipped', 'first')
const SKIPPED_LAST = fieldAt('skipped', 'last')
const ASSEMBLED_FIRST = fieldAt('assembled', 'first')
const ASSEMBLED_PEER = fieldAt('assembled', 'peer')
const ASSEMBLED_VIEW = fieldAt('assembled', 'view')
const ASSEMBLED_LAST = fieldAt('assembled', 'last')
const ASSEMBLED_HANDLE = fieldAt('assembled', 'handle')
const REC_MESSAGE_AT = RecordType.messageAt
const MESSAGE_AT_SEQ = fieldAt('messageAt', 'seq')
const MESSAGE_AT_PEER = fieldAt('messageAt', 'peer')
const MESSAGE_AT_VIEW = fieldAt('messageAt', 'view')
const MESSAGE_AT_OFFSET = fieldAt('messageAt', 'offset')
const MESSAGE_AT_LENGTH = fieldAt('messageAt', 'length')
const HEADER = 8 // u32 length | u16 type | u16 flags (ring.h)

const REASONS: Record<number, PeerDownReason> = Object.fromEntries(
  Object.entries(addon.boundary.peerDownReasons).map(([name, code]) => [code, name as PeerDownReason]),
)

/**
 * Hands the records of `bytes[at, end)` to `member` (and 'slow' to
 * `shell`), in order; returns where it stopped (`end`, or earlier when the
 * shell said stop). Views into `bytes` (message data, control payloads) stay
 * valid as long as it does.
 */
export function readRecords(bytes: Uint8Array, view: DataView, at: number, end: number, member: RecordTarget, shell: RecordShell): number {
  const buffer = bytes.buffer
  const base = bytes.byteOffset
  while (at < end && !shell.stopped()) {
    const length = view.getUint32(at, true)
    const type = view.getUint16(at + 4, true)
    const flags = view.getUint16(at + 6, true)
    const body = at + HEADER
    at += (length + 7) & ~7
    if (type === REC_MESSAGE) {
      member.onMessage(view.getUint32(body + MESSAGE_PEER, true), u64(view, body + MESSAGE_SEQ), view.getUint32(body + MESSAGE_VIEW, true), flags & 0xf, flags >> 4,
        bytes, body + MESSAGE_DATA, body + length - HEADER)
    } else if (type === REC_MESSAGE_AT) {
      // Read in place: its bytes are where the engine received them, held until the ring's space is handed back.
      const memory = shell.receiveMemory
      if (memory === null) throw new Error('troupe: a messageAt record without the engine\'s receive memory')
      const start = view.getUint32(body + MESSAGE_AT_OFFSET, true)
      member.onMessage(view.getUint32(body + MESSAGE_AT_PEER, true), u64(view, body + MESSAGE_AT_SEQ), view.getUint32(body + MESSAGE_AT_VIEW, true), flags & 0xf, flags >> 4,
        memory, start, start + view.getUint32(body + MESSAGE_AT_LENGTH, true))
    } else if (type === REC_PEER_UP) {
      const nameLength = view.getUint32(body + PEER_UP_NAME_LENGTH, true)
      const name = Buffer.from(buffer, base + body + PEER_UP_NAME, nameLength).toString('utf8')
      member.onPeerUp(view.getUint32(body + PEER_UP_PEER, true), hex64(view, body + PEER_UP_ID), name)
    } else if (type === REC_PEER_DOWN) {
      const reason = REASONS[view.getUint32(body + PEER_DOWN_REASON, true)] ?? 'forgotten'
      member.onPeerDown(view.getUint32(body + PEER_DOWN_PEER, true), hex64(view, body + PEER_DOWN_ID), reason)
    } else if (type === REC_STABLE) {
      member.onStable(view.getUint32(body + STABLE_PEER, true), u64(view, body + STABLE_SEQ))
    } else if (type === REC_SLOW) {
      shell.onSlow(hex64(view, body + SLOW_ID), u64(view, body + SLOW_LAG))
    } else if (type === REC_CONTROL) {
      member.onControl(hex64(view, body + CONTROL_SENDER), new Uint8Array(buffer, base + body + CONTROL_PAYLOAD, length - HEADER - CONTROL_PAYLOAD))
    } else if (type === REC_SKIPPED) {
      member.onSkipped(view.getUint32(body + SKIPPED_PEER, true), view.getUint32(body + SKIPPED_VIEW, true), u64(view, body + SKIPPED_FIRST), u64(view, body + SKIPPED_LAST))
    } else if (type === REC_ASSEMBLED) {
      const peer = view.getUint32(body + ASSEMBLED_PEER, true)
      const first = u64(view, body + ASSEMBLED_FIRST)
      const last = u64(view, body + ASSEMBLED_LAST)
      const sentIn = view.getUint32(body + ASSEMBLED_VIEW, true)
      const data = shell.takeMessage(u64(view, body + ASSEMBLED_HANDLE))
      // (Never without its bytes unless a record is read twice: its seqs go on, the message is lost.)
      if (data === null) member.onSkipped(peer, sentIn, first, last)
      else member.onAssembled(peer, first, last, sentIn, flags & 0xf, data)
    }
  }
  return at
}

/** Every record of `bytes` as plain objects (tests, and anyone who wants them all at once); `core`: where assembled messages are taken. */
export function decodeRecords(bytes: Uint8Array, core: MessageSource | null = null): DecodedRecord[] {
  const out: DecodedRecord[] = []
  readRecords(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.length, {
    onMessage: (peer, seq, view, order, frag, data, start, end) => out.push({ type: 'message', peer, seq, view, order, frag, data: data.subarray(start, end) }),
    onPeerUp: (peer, id, name) => out.push({ type: 'peerUp', peer, id, name }),
    onPeerDown: (peer, id, reason) => out.push({ type: 'peerDown', peer, id, reason }),
    onStable: (peer, seq) => out.push({ type: 'stable', peer, seq }),
    onControl: (sender, data) => out.push({ type: 'control', sender, data }),
    onSkipped: (peer, view, first, last) => out.push({ type: 'skipped', peer, view, first, last }),
    onAssembled: (peer, first, last, view, order, data) => out.push({ type: 'assembled', peer, first, last, view, order, data }),
  }, { ...plainShell(core), onSlow: (id, lag) => out.push({ type: 'slow', id, lag }) })
  return out
}

export type DecodedRecord =
  | { type: 'message'; peer: number; seq: number; view: number; order: number; frag: number; data: Uint8Array }
  | { type: 'peerUp'; peer: number; id: string; name: string }
  | { type: 'peerDown'; peer: number; id: string; reason: PeerDownReason }
  | { type: 'stable'; peer: number; seq: number }
  | { type: 'control'; sender: string; data: Uint8Array }
  | { type: 'slow'; id: string; lag: number }
  | { type: 'skipped'; peer: number; view: number; first: number; last: number }
  | { type: 'assembled'; peer: number; first: number; last: number; view: number; order: number; data: Uint8Array }

/** A u64 record field as a number (seqs and lags stay below 2^53). */
function u64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 4294967296
}

/** A member incarnation (u64) as the 16 hex digits of its id. */
function hex64(view: DataView, at: number): string {
  return view.getBigUint64(at, true).toString(16).padStart(16, '0')
}
