// What the bench's members say to each other over the group, and what the
// members and the parent (`troupe bench`) say over the fork IPC channel.
//
// Every bench message on the group starts with a 16-byte header, little-endian,
// and is padded with zeros to --size bytes:
//
//    0      1      2             4             8                            16
//   +------+------+-------------+-------------+----------------------------+----------
//   | type |  0   | sender (u16)| seq (u32)   | sent at (u64 ns)           | padding
//   +------+------+-------------+-------------+----------------------------+----------
//
//   DATA  seq = the sender's count of DATA messages before this one (0, 1, 2, ...)
//   WARM  a DATA message of a rate phase's warm-up (--warmup): counted and
//         checked, its latency not recorded
//   END   seq = how many DATA messages the sender sent; sent after the last one
//   PING  seq = ping number; sent at = when member 0 sent it
//   PONG  member 1's answer: the PING's seq and sent-at, copied
//
// In a rate phase (--rate, --rates) "sent at" of DATA is the message's
// intended send time (the schedule's), not when send() ran: a sender that
// falls behind its schedule adds its delay to the latency it measures
// (no coordinated omission).
//
// "sent at" is process.hrtime.bigint(): CLOCK_MONOTONIC, one clock for every
// process on the host, so a receiver's clock minus it is the one-way latency.

import type { HistogramData } from './histogram.js'
import type { BenchConfig } from './options.js'

export const HEADER_BYTES = 16
export const DATA = 1
export const END = 2
export const PING = 3
export const PONG = 4
export const WARM = 5

const TWO_32 = 4294967296

export function writeHeader(buf: Uint8Array, type: number, sender: number): void {
  buf[0] = type
  buf[1] = 0
  buf[2] = sender & 0xff
  buf[3] = sender >>> 8
}

export function writeU32(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = value
  buf[offset + 1] = value >>> 8
  buf[offset + 2] = value >>> 16
  buf[offset + 3] = value >>> 24
}

/** Reads a u32 from bytes, allocating nothing (a DataView per message would). */
export function readU32(buf: Uint8Array, offset: number): number {
  return (buf[offset]! | (buf[offset + 1]! << 8) | (buf[offset + 2]! << 16) | (buf[offset + 3]! << 24)) >>> 0
}

export function writeTime(buf: Uint8Array, ns: bigint): void {
  writeU32(buf, 8, Number(ns & 0xffffffffn))
  writeU32(buf, 12, Number(ns >> 32n))
}

/** The sent-at field as a double: exact to the nanosecond for 104 days of uptime. */
export function readTime(buf: Uint8Array, at = 0): number {
  return readU32(buf, at + 8) + readU32(buf, at + 12) * TWO_32
}

export const readSender = (buf: Uint8Array, at = 0): number => buf[at + 2]! | (buf[at + 3]! << 8)

/** Whether the sender of a one-sender run joins with receiveOwn false (member.ts says why). */
export function loneSenderSkipsOwn(config: { senders: number; order: string }): boolean {
  return config.senders === 1 && config.order !== 'total' && config.order !== 'safe'
}

// ---- member <-> parent, over the fork IPC channel (JSON) ------------------------

/** How the parent starts a member: `troupe bench-member <json>`. */
export interface MemberArgs {
  index: number
  group: string
  /** Fault-injection seed for this member (the run's seed + index), if any fault is injected. */
  seed: number | undefined
  config: BenchConfig
  /** A member started after the data phase to time a join (it waits for a view of members + 1). */
  extra?: boolean
}

export interface SenderReport {
  sent: number
  seconds: number
  /** Times send() returned false and the sender waited for 'drain'. */
  drainWaits: number
  cpuPercent: number
  /** A rate phase: how far (µs) send() ran behind the schedule at worst, and at the end. */
  maxBehindUs?: number
  endBehindUs?: number
  /** A rate phase: how late each message after the warm-up went out (send() − its intended time). */
  lag?: HistogramData
}

/** The slice of the throughput series (ms). */
export const SERIES_MS = 100

export interface PerSender {
  delivered: number
  /** The count the sender announced in END, or -1 if END has not arrived. */
  announced: number
  duplicates: number
  /** Deliveries whose seq was not the previous one's + 1 (a violation unless order is unordered). */
  outOfOrder: number
}

export interface ReceiverReport {
  /** Hash chain over (sender, seq) in delivery order (equal at every member when they share one order). */
  orderHash: number
  /** True if every sender's END arrived and every message it announced was delivered. */
  complete: boolean
  messages: number
  seconds: number
  perSender: PerSender[]
  /** DATA messages whose sender index is not a sender's. */
  foreign: number
  latency: HistogramData
  cpuPercent: number
  /** The receiving process's peak resident memory so far (MiB). */
  peakRssMiB: number
  /** A rate phase's throughput over time. */
  series?: number[]
}

export interface PingReport {
  /** Pings sent. */
  count: number
  /** Pings with no PONG within 1 s (not counted in rtt). */
  timeouts: number
  /** True if the pinger stopped early after several unanswered pings in a row. */
  gaveUp: boolean
  rtt: HistogramData
}

export interface FinalReport {
  counters: Record<string, number>
  view: { id: number; members: string[] }
  /** PING and PONG messages this member delivered (every member delivers them). */
  pingsSeen: number
  pongsSeen: number
}

export type ToParent =
  | { t: 'joined'; me: string; view: { id: number; members: string[]; coordinator: string }; joinMs: number; joinStartedAtMs: number }
  /** Every view installed after joining; atMs is wall-clock (performance.timeOrigin + now), comparable across processes. */
  | { t: 'view'; id: number; members: string[]; atMs: number }
  | { t: 'leaving'; atMs: number }
  /** A rate phase's receiver is in place: the parent may set the phase's t0. */
  | { t: 'ready'; phase: number }
  | { t: 'sent'; report: SenderReport; phase?: number }
  | { t: 'delivered'; report: ReceiverReport; phase?: number }
  | { t: 'pinged'; report: PingReport; phase?: number }
  | { t: 'result'; report: FinalReport }
  | { t: 'failed'; message: string }

/**
 * One rate phase (--rate, --rates): what every member is told, in two steps.
 * 'rate' makes each member a fresh receiver for the phase and it answers
 * 'ready'; once all have, 'start' gives the time message 0 is due. (With one
 * step, a receiver whose IPC came late would take the phase's first
 * messages as the last phase's.)
 */
export interface RatePhase {
  phase: number
  /** Messages/s per sender. */
  rate: number
  warmup: number
  seconds: number
  /** Round trips member 0 makes to member `ponger` during the measured part (0: none): at most this many, pingRate a second, none after the phase's end. */
  pings: number
  pingRate: number
  ponger: number
}

export type ToMember =
  | { t: 'go' }
  | ({ t: 'rate' } & RatePhase)
  /** Sending starts at t0, CLOCK_MONOTONIC ns (one clock for every process on the host). */
  | { t: 'start'; phase: number; t0: number }
  /** Report what has been delivered so far, complete or not (the parent's deadline passed). */
  | { t: 'report' }
  /** Ping member `to` (which answers PINGs whose byte 1 names it) `count` times in a row. */
  | { t: 'ping'; count: number; to: number }
  | { t: 'finish' }
  /** Leave the group (timed by the parent), then exit. */
  | { t: 'leave' }
