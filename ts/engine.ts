// The only file that loads the native addon and declares its shape.
// Everything native is typed here; public names and defaults live in
// options.ts and group.ts.
import { packageRoot, requireHere } from './here.js'

export interface CoreOptions {
  groupHash: number
  name?: string
  self?: bigint
  datagramSize?: number
  windowBytes?: number
  receiveSlots?: number
  statusIntervalNs?: number
  nakDelayNs?: number
  nakRetryNs?: number
  xmitHoldNs?: number
  suspectTimeoutNs?: number
  /** A member that holds our window full this long is reported (a 'slow' record); 0: never. */
  slowTimeoutNs?: number
  receiveOwn?: boolean
  /** false: silent peers are only suspected; the membership protocol removes them (forget). */
  autoRemove?: boolean
  /** Bytes of received datagrams kept per sender for members that miss them in a flush. */
  retainBytes?: number
  /** The largest message put together from fragments (native/assembly.h); default 8 MiB. */
  maxMessageBytes?: number
  seed?: number
  /** A client of the group (open groups): CONTROL only, no stream, no STATUS; no group socket. */
  client?: boolean
}

export interface EngineOptions extends CoreOptions {
  groupIp: number     // network byte order, as the kernel wants it
  port: number
  interfaceIp: number // network byte order
  ttl: number
  receiveBuffer?: number
  sendBuffer?: number
  outboundBytes: number
  inboundBytes: number
  injectLoss?: number
  injectDuplicate?: number
  injectReorder?: number
  injectDelayMs?: number
  injectSeed?: number
  /** After a receive, keep reading the sockets on the JS thread until nothing came for this long (0: off). */
  busyPollNs?: number
  /** Closed group: 32-byte key; every datagram is sealed (AES-256-GCM). */
  key?: Uint8Array
  /** A unicast-only group: every member's address as flat (ip in network byte order, port) pairs ('auto': addresses to probe). */
  peers?: number[]
  /** transport 'auto': multicast, STATUS by unicast to every member known, everything by unicast to members that ask (setUnicast). */
  autoFallback?: boolean
}

export interface EngineInfo {
  self: string
  localAddress: string
  localPort: number
  outboundOffset: number
  inboundOffset: number
  maxPayload: number
}

/** A live member: sockets, an I/O thread and two rings in shared memory. */
export declare class NativeEngine {
  constructor(options: EngineOptions, onWake: () => void)
  /** The shared region: counters, outbound ring, inbound ring. */
  memory(): ArrayBuffer
  /** Outbound records are published: send them now (or soon). */
  flush(): void
  /** Wake the I/O thread: inbound space was freed. */
  kick(): void
  /** Sends LEAVE, stops the thread, closes the sockets. */
  close(): void
  /** A CONTROL datagram: unicast to the member with incarnation `to` (16 hex digits) if known, else multicast. */
  control(payload: Uint8Array, to: string | null): boolean
  /** Stops taking messages from the outbound ring at a message boundary: the highest seq sent, or -1 (not yet). */
  pause(): number
  resume(): void
  /** The member does not (false: does again) hold back our stability. */
  exclude(hex: string, excluded?: boolean): void
  forget(hex: string): void
  /** Stamps our datagrams with this view id from now on. */
  setView(view: number): void
  /** The member's messages before `seq` came another way: its receive window moves on. */
  advance(hex: string, seq: number): void
  /** Asks `holderHex` for seqs of `senderHex`: flat [first, last, ...] pairs. */
  fetch(senderHex: string, holderHex: string, ranges: number[]): void
  /** Closed groups: seal with `key` from now on, accept the old key for `graceMs`. False without a key. */
  rekey(key: Uint8Array, graceMs: number): boolean
  /** After a receive, the JS thread keeps reading the sockets until nothing has come for `ns` (0: off). */
  setBusyPoll(ns: number): void
  /** Every other member's lag behind our stream. */
  lags(): { id: string; acked: number; lag: number; behindMs: number; silentMs: number; excluded: boolean; address: string; multicastSilentMs: number }[]
  /** transport 'auto': member `hex` does not (true) hear our multicast: the group's datagrams go to it by unicast too. */
  setUnicast(hex: string, on: boolean): void
  /** transport 'auto': since our own multicast last came back to us (ms; -1: never). */
  ownMulticastSilentMs(): number
  /** The bytes of an assembled record's message (native/assembly.h), taken once; null if none waits under `handle`. */
  takeMessage(handle: number): Uint8Array | null
  /**
   * The inbound ring's published records, at most `maxBytes` of them (or
   * one), copied into memory of their own with the bytes of the messages
   * that stayed where they were received ('messageAt' records become
   * 'message' records); their space is handed back. null: none published.
   */
  takeInbound(maxBytes: number): Uint8Array | null
  /** Where 'messageAt' records point (the engine's receive units); null: none. */
  receiveMemory(): ArrayBuffer | null
  /** Members' addresses (flat ip in network byte order, port pairs): a unicast-only group sends to them too. */
  addPeers(peers: number[]): void
  /** The subscriptions' patterns: fifo and unordered subject messages none of them matches are dropped before JS ('skipped' records). null: none dropped. */
  setSubjects(patterns: string[] | null): void
  readonly info: EngineInfo | null
}

export interface ManualOutput {
  sent: { data: Uint8Array; to: { ip: number; port: number } | null }[]
  /** Inbound records, as the engine writes them into its ring (node/records.ts reads them). */
  records: Uint8Array
}

/** The reliability core alone, driven with made-up time: tests and the simulator. */
export declare class NativeManualCore {
  constructor(options: CoreOptions, nowNs: number)
  submit(data: Uint8Array, order: number, frag: number, nowNs: number): 'ok' | 'full' | 'tooBig'
  flush(nowNs: number): void
  input(datagram: Uint8Array, fromIp: number, fromPort: number, nowNs: number): void
  timer(nowNs: number): void
  nextDeadline(): number
  pump(nowNs: number): boolean
  /** Deliveries the sink accepts before it reports full (undefined: no limit). */
  setRoom(room?: number): void
  /** As NativeEngine.setSubjects. */
  setSubjects(patterns: string[] | null): void
  leave(nowNs: number): void
  take(): ManualOutput
  counters(): Record<string, number>
  control(payload: Uint8Array, to: string | null, nowNs: number): boolean
  exclude(hex: string, excluded?: boolean): void
  forget(hex: string): void
  setView(view: number, nowNs: number): void
  advance(hex: string, seq: number): void
  fetch(senderHex: string, holderHex: string, ranges: number[]): void
  inMessage(): boolean
  highestSent(): number
  /** As the engine's. */
  takeMessage(handle: number): Uint8Array | null
  /** Frees the core now (not at garbage collection); any later call throws ERR_TROUPE_CLOSED. */
  close(): void
  readonly self: string
}

export interface DecodedDatagram {
  ok: boolean
  reason: 'none' | 'truncated' | 'magic' | 'version' | 'length' | 'malformed' | 'foreign'
  type?: number
  sender?: string
  firstSeq?: number
  count?: number
  highestSent?: number
  name?: string
  acks?: number
  ranges?: number
}

/** The closed groups' sealer alone (native/seal.h), with made-up time: tests. */
export declare class NativeManualSealer {
  constructor(key: Uint8Array, selfHex: string)
  seal(plain: Uint8Array): Uint8Array
  open(sealed: Uint8Array, nowNs: number): { ok: boolean; reason: 'none' | 'auth' | 'replay'; plain?: Uint8Array }
  rekey(key: Uint8Array, graceNs: number, nowNs: number): void
}

interface Addon {
  Engine: typeof NativeEngine
  ManualCore: typeof NativeManualCore
  ManualSealer: typeof NativeManualSealer
  decode(datagram: Uint8Array, groupHash: number): DecodedDatagram
  groupHash(name: string): number
  /** CRC-32C of `bytes`, continuing from `crc` (0 to start); `portable`: the table version (tests). */
  crc32c(bytes: Uint8Array, crc?: number, portable?: boolean): number
  /** n bytes, not zero-filled, whose memory is reused once let go of (past 16 KiB: native/assembly.cc's mappings). */
  reusableBytes(n: number): Uint8Array
  /** The process's mappings for large messages' bytes so far: made fresh, reused (JS had let go of them), and bytes kept for reuse now. */
  messageMemory(): { mapped: number; reused: number; keptBytes: number }
  counters: { name: string; doc: string }[]
  limits: {
    maxDatagram: number
    minDatagram: number
    maxMembers: number
    maxName: number
    dataHeaderBytes: number
    messageHeaderBytes: number
    sealOverhead: number
    keyBytes: number
  }
  /** The native core's own defaults (reliability.h CoreConfig); the library's are in options.ts. */
  coreDefaults: { datagramSize: number; windowBytes: number; statusIntervalNs: number; nakDelayNs: number; suspectTimeoutNs: number; receiveOwn: boolean }
  /** native/boundary.h: read through boundary.ts. */
  boundary: {
    orders: Record<string, number>
    /** OR'ed into an application order's code: the message belongs to one of the library's rooms (requests). */
    room: number
    /** The subjects room's first byte (ts/subjects.ts ROOM_SUBJECTS), which the engine's filter reads. */
    roomSubjects: number
    frags: Record<string, number>
    records: Record<string, { type: number; doc: string; fields: Record<string, [offset: number, bytes: number]> }>
    peerDownReasons: Record<string, number>
  }
}

// node-gyp-build finds build/Release/ (built from source) or else the
// prebuilt addon for this platform in prebuilds/.
const loadAddon = requireHere('node-gyp-build') as (root: string) => Addon
export const addon: Addon = loadAddon(packageRoot)

/** Offsets inside the shared region's counter page. */
export const counterIndex: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(addon.counters.map((c, i) => [c.name, i])),
)
