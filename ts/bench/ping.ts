// The round trip of `troupe bench`: member 0 pings, member 1 pongs, one at a time.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Group, Order, SendOptions } from '../index.js'
import { Histogram } from './histogram.js'
import { drained } from './member.js'
import { HEADER_BYTES, PING, PONG, readU32, writeHeader, writeTime, writeU32 } from './protocol.js'
import type { PingReport } from './protocol.js'

const PING_TIMEOUT_MS = 1000
/** Give up the round trips after this many unanswered pings in a row (a stalled group). */
const PING_GIVE_UP = 5

/** Member 0's side of the round trip: one PING at a time, the next after its PONG. */
export class Pinger {
  private readonly buf: Uint8Array
  private waiting = -1
  private wake: (() => void) | null = null

  constructor(private readonly group: Group, size: number) {
    this.buf = new Uint8Array(size)
    writeHeader(this.buf, PING, 0)
  }

  onPong(d: Uint8Array): void {
    if (readU32(d, 4) === this.waiting && this.wake) this.wake()
  }

  /** `count` pings to member `to`, each sent as soon as the last one's PONG is in. */
  run(count: number, order: Order, to: number): Promise<PingReport> {
    return this.pings(count, order, to, 0, 0, Infinity)
  }

  /**
   * Up to `count` pings to member `to` at most `rate` a second, the first at
   * `startNs` and none from `endNs` on (CLOCK_MONOTONIC): the round trip
   * under a rate phase's load, and only under it. A ping whose answer is
   * late delays the next (one at a time).
   */
  runPaced(count: number, order: Order, to: number, rate: number, startNs: number, endNs: number): Promise<PingReport> {
    return this.pings(count, order, to, 1e9 / rate, startNs, endNs)
  }

  private async pings(count: number, order: Order, to: number, everyNs: number, startNs: number, endNs: number): Promise<PingReport> {
    this.buf[1] = to
    const rtt = new Histogram()
    const opts = { order }
    let timeouts = 0
    let unansweredInARow = 0
    let i = 0
    for (; i < count && unansweredInARow < PING_GIVE_UP; i++) {
      const wait = startNs + i * everyNs - Number(process.hrtime.bigint())
      if (wait > 0) await sleep(wait / 1e6)
      if (Number(process.hrtime.bigint()) >= endNs) break
      const answered = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS)
        this.wake = () => {
          clearTimeout(timer)
          resolve(true)
        }
      })
      this.waiting = i
      writeU32(this.buf, 4, i)
      const t0 = process.hrtime.bigint()
      writeTime(this.buf, t0)
      // A large ping may find the window full: 'drain' may come before the
      // PONG, so it is waited for from now on.
      const room = this.group.send(this.buf, opts) ? null : drained(this.group)
      const ok = await answered
      const t1 = process.hrtime.bigint()
      this.wake = null
      this.waiting = -1
      if (ok) {
        rtt.record(Number(t1 - t0))
        unansweredInARow = 0
      } else {
        timeouts++
        unansweredInARow++
      }
      if (room !== null) await room
    }
    return { count: i, timeouts, gaveUp: unansweredInARow >= PING_GIVE_UP, rtt: rtt.toData() }
  }
}

/** Member 1's side: answers each PING with a PONG that carries the same seq and time. */
export class Ponger {
  private readonly buf: Uint8Array
  private readonly opts: SendOptions
  private blocked = false

  constructor(private readonly group: Group, size: number, order: Order) {
    this.buf = new Uint8Array(size)
    this.opts = { order }
    writeHeader(this.buf, PONG, 1)
  }

  onPing(d: Uint8Array): void {
    this.buf.set(d.subarray(4, HEADER_BYTES), 4)
    // Pings come one at a time; a full window here would be a library bug, and
    // the pinger's timeout reports it. Send regardless (the message is taken).
    if (!this.group.send(this.buf, this.opts) && !this.blocked) {
      this.blocked = true
      void drained(this.group).then(() => (this.blocked = false))
    }
  }
}
