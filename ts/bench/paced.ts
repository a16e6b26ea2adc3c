// Sending at a fixed rate for a rate phase of `troupe bench` (--rate,
// --rates). Message i is due at t0 + i / rate, and carries that intended
// time as its "sent at": when the sender falls behind (a full window, a GC
// pause, a descheduled process), the messages it sends late still say when
// they should have gone, so the latency a receiver measures includes the
// sender's delay (no coordinated omission).
//
// One turn of the loop:
//   send everything due (the clock read per message)
//   yield to the event loop (setImmediate): the library flushes what was
//     just sent (a microtask) and runs its wake-ups (acks, 'drain', the
//     PONGs member 0 waits for)
//   if the next message is more than 2 ms away, sleep on a timer until
//     1.5 ms before it (a timer's grain is 1 ms, and it fires late)
// and round again: below 2 ms the sender spins through the event loop.
//
// Why spin, on a 2-core host shared with the receivers: a blocking nap
// (Atomics.wait) woke 80-110 µs late at the median on this VM, and kept the
// event loop, the library's flush and member 0's PONGs waiting while it
// lasted. Measured at 1k-10k msgs/s, 1 -> 3, two runs each: napping (until
// a learned margin before the next message) gave a send lateness p50 of
// 10-79 µs below 5k msgs/s, one-way p50 171-221 µs and a round trip p50 of
// ~965 µs at 1k; spinning 1-2 µs, 127-141 µs and 172-204 µs. The receivers'
// CPU was the same, and their one-way p99 within the spread between runs
// (2-9 ms either way).
import { Histogram } from './histogram.js'

/** When each message of a phase is due. */
export class Schedule {
  constructor(
    /** CLOCK_MONOTONIC ns of message 0. */
    readonly t0: number,
    /** Messages a second. */
    readonly rate: number,
    /** Messages in the phase. */
    readonly total: number,
  ) {}

  /** The intended send time of message i (ns). */
  dueAt(i: number): number {
    return this.t0 + Math.round((i * 1e9) / this.rate)
  }
}

/** What pace() needs of the world: a clock, a send, and ways to wait. */
export interface Pacer {
  /** CLOCK_MONOTONIC, ns. */
  now(): number
  /** Sends message i stamped with its intended time; a promise when it had to wait (the window was full). */
  send(i: number, intendedNs: number): void | Promise<void>
  /** Lets the event loop run (the library's flush and wake-ups), at once. */
  yield(): Promise<void>
  /** Sleeps about `ns` through the event loop (gaps of milliseconds). */
  sleep(ns: number): Promise<void>
}

export interface PaceResult {
  sent: number
  /** How far behind its schedule a message went out, at worst and for the last one (ns). */
  maxBehindNs: number
  endBehindNs: number
  /** How late each message from `measuredFrom` on went out (ns): the sender's own share of the latency. */
  lag: Histogram
}

/** Gaps longer than this are slept through on a timer, but for SLEEP_EARLY_NS. */
const SLEEP_OVER_NS = 2_000_000
const SLEEP_EARLY_NS = 1_500_000
/** At most this many sends between yields, so a sender far behind does not starve the loop. */
const MAX_BURST = 4096

/** Sends every message of `schedule` when due (or as soon after as it can); `measuredFrom`: the first message whose lateness counts in `lag`. */
export async function pace(schedule: Schedule, p: Pacer, measuredFrom = 0): Promise<PaceResult> {
  const lag = new Histogram()
  let i = 0
  let maxBehindNs = 0
  let endBehindNs = 0
  while (i < schedule.total) {
    let now = p.now()
    for (let burst = 0; i < schedule.total && burst < MAX_BURST; burst++, i++) {
      const intended = schedule.dueAt(i)
      if (intended > now) break
      const behind = now - intended
      if (behind > maxBehindNs) maxBehindNs = behind
      endBehindNs = behind
      if (i >= measuredFrom) lag.record(behind)
      const waited = p.send(i, intended)
      if (waited !== undefined) await waited
      now = p.now()
    }
    await p.yield()
    if (i >= schedule.total) break
    const gap = schedule.dueAt(i) - p.now()
    if (gap > SLEEP_OVER_NS) await p.sleep(gap - SLEEP_EARLY_NS)
  }
  return { sent: i, maxBehindNs, endBehindNs, lag }
}
