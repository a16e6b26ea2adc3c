// Sending at a fixed rate for a rate phase of `troupe bench` (--rate,
// --rates). Message i is due at t0 + i / rate, and carries that intended
// time as its "sent at": when the sender falls behind (a full window, a GC
// pause, a descheduled process), the messages it sends late still say when
// they should have gone, so the latency a receiver measures includes the
// sender's delay (no coordinated omission). Everything due is sent in one
// burst; between bursts the loop yields to the event loop (setImmediate), so
// the library's wake-ups and flushes run, after napping (Atomics.wait) when
// the next message is more than 50 µs away, or sleeping (a timer) when it is
// more than 2 ms away.

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

  /** How many messages are due at `now` (ns). */
  dueBy(now: number): number {
    if (now < this.t0) return 0
    return Math.min(this.total, Math.floor(((now - this.t0) * this.rate) / 1e9) + 1)
  }
}

/** What pace() needs of the world: a clock, a send, and ways to wait. */
export interface Pacer {
  /** CLOCK_MONOTONIC, ns. */
  now(): number
  /** Sends message i stamped with its intended time; a promise when it had to wait (the window was full). */
  send(i: number, intendedNs: number): void | Promise<void>
  /** Lets the event loop run (the library's wake-ups), at once. */
  yield(): Promise<void>
  /** Sleeps about `ns` through the event loop (gaps of milliseconds). */
  sleep(ns: number): Promise<void>
  /** Blocks the thread for about `ns` without spinning (gaps of tens of µs to 2 ms, below a timer's 1 ms grain). */
  nap(ns: number): void
}

export interface PaceResult {
  sent: number
  /** How far behind its schedule a message went out, at worst and for the last one (ns). */
  maxBehindNs: number
  endBehindNs: number
}

/** Gaps longer than this are slept through; shorter ones yield and look again. */
const SLEEP_OVER_NS = 2_000_000
/** Gaps longer than this are napped through (blocking the thread), but for NAP_EARLY_NS. */
const NAP_OVER_NS = 50_000
const NAP_EARLY_NS = 20_000
/** At most this many sends between yields, so a sender far behind does not starve the loop. */
const MAX_BURST = 4096

/** Sends every message of `schedule` when due (or as soon after as it can). */
export async function pace(schedule: Schedule, p: Pacer): Promise<PaceResult> {
  let i = 0
  let maxBehindNs = 0
  let endBehindNs = 0
  while (i < schedule.total) {
    let now = p.now()
    const due = schedule.dueBy(now)
    for (let burst = 0; i < due && burst < MAX_BURST; burst++, i++) {
      const intended = schedule.dueAt(i)
      const behind = now - intended
      if (behind > maxBehindNs) maxBehindNs = behind
      endBehindNs = behind
      const waited = p.send(i, intended)
      if (waited !== undefined) {
        await waited
        now = p.now()
      }
    }
    if (i >= schedule.total) break
    const gap = schedule.dueAt(i) - p.now()
    if (gap > SLEEP_OVER_NS) await p.sleep(gap - SLEEP_OVER_NS / 2)
    else {
      // Short gaps: nap through most of it (a spinning sender would take a
      // core from the receivers on a small machine), then let the loop run.
      if (gap > NAP_OVER_NS) p.nap(gap - NAP_EARLY_NS)
      await p.yield()
    }
  }
  return { sent: i, maxBehindNs, endBehindNs }
}
