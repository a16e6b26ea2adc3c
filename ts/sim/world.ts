// The simulator's world: a clock, a network and the members on it, all in
// one process and deterministic for a seed. Each member runs the real code:
// the native reliability core in its threadless mode (ManualCore) and the
// TypeScript member (member.ts: membership, flush, streams, order policies).
//
// The network delivers each datagram after a random delay (so datagrams
// reorder), loses or duplicates some, and drops everything between the sides
// of a partition. A crashed member neither sends nor receives nor runs timers.
import type { View } from '../message.js'
import type { Log } from './checker.js'
import { MS, SimNode } from './node.js'
import { Random } from './random.js'

export { SimNode }


export interface Faults {
  loss: number // probability a datagram is lost on its way to one receiver
  duplicate: number
  delayNs: number // base one-way delay
  jitterNs: number // plus uniform [0, jitter): datagrams reorder
}

export interface WorldConfig {
  seed: number
  datagramSize: number
  windowBytes: number
  suspectTimeoutMs: number
  statusIntervalMs: number
  retryMs: number
  tickMs: number
  partitions: 'primary' | 'merge'
  /** Each core's receive window per sender (slots) and bytes kept per sender for relaying: smaller for large groups (one process holds every member's core). */
  receiveSlots?: number
  retainBytes?: number
}

/** What one incarnation did: the checker's log, and what the simulator keeps beside it. */
export interface Incarnation extends Log {
  name: string
  node: number
  views: { view: View; founder: string; atNs: number }[]
  blockedNs: number[]
  merges: string[][][]
  /** Causal messages sent: the causal messages their sender had delivered (the last of each sender). */
  causalDeps: Map<string, string[]>
  state: { set: Uint8Array | null }
  blockViews: { view: number; founder: string; digest: string; strangers: string[] }[]
}

interface Pending {
  atNs: number
  seq: number
  run: () => void
}

/** A binary heap of events, earliest first; ties by insertion order. */
class Agenda {
  private heap: Pending[] = []
  private seq = 0
  push(atNs: number, run: () => void): void {
    const h = this.heap
    h.push({ atNs, seq: this.seq++, run })
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!before(h[i]!, h[p]!)) break
      ;[h[i], h[p]] = [h[p]!, h[i]!]
      i = p
    }
  }
  pop(): Pending | undefined {
    const h = this.heap
    if (h.length === 0) return undefined
    const top = h[0]!
    const last = h.pop()!
    if (h.length) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1, r = l + 1
        let m = i
        if (l < h.length && before(h[l]!, h[m]!)) m = l
        if (r < h.length && before(h[r]!, h[m]!)) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m]!, h[i]!]
        i = m
      }
    }
    return top
  }
  get size(): number {
    return this.heap.length
  }
}
const before = (a: Pending, b: Pending) => a.atNs < b.atNs || (a.atNs === b.atNs && a.seq < b.seq)

/** One member process in the simulation (one incarnation at a time). */
export class World {
  nowNs = 0
  readonly random: Random
  readonly nodes: SimNode[] = []
  readonly incarnations: Incarnation[] = []
  faults: Faults = { loss: 0, duplicate: 0, delayNs: 50_000, jitterNs: 0 }
  /** Side of each node; datagrams cross only between nodes of one side. */
  sides: number[] = []
  restartExcluded = true
  /** Called as a member sends a membership message (its kind byte): scenarios use it to crash a coordinator mid-flush. */
  onControlSent: ((node: SimNode, kind: number) => void) | null = null
  /** Links that lose everything (from, to node index), on top of the sides: scenarios use it to let a message reach only some members. */
  lostLink: ((from: number, to: number) => boolean) | null = null
  private readonly agenda = new Agenda()
  datagrams = 0

  constructor(readonly config: WorldConfig) {
    this.random = new Random(config.seed)
  }

  /** Frees every member's native core; the world is not used after this. */
  dispose(): void {
    for (const n of this.nodes) n.dispose()
  }

  addNode(name: string): SimNode {
    const n = new SimNode(this, this.nodes.length, name)
    this.nodes.push(n)
    this.sides.push(0)
    return n
  }

  at(atNs: number, run: () => void): void {
    this.agenda.push(atNs, run)
  }

  /** Runs events until `untilNs`; a run that does not end (more than `maxEvents`) throws. */
  run(untilNs: number, maxEvents = 20_000_000): void {
    for (let events = 0; ; events++) {
      if (events > maxEvents) throw new Error(`the run did not end: ${maxEvents} events by ${(this.nowNs / 1e6).toFixed(1)} ms of simulated time`)
      const e = this.agenda.pop()
      if (!e) break
      if (e.atNs > untilNs) {
        this.agenda.push(e.atNs, e.run)
        break
      }
      this.nowNs = Math.max(this.nowNs, e.atNs)
      for (const n of this.nodes) if (n.alive) n.member.setNow(this.nowNs / MS)
      e.run()
    }
    this.nowNs = untilNs
  }

  transmit(from: number, data: Uint8Array, to: number | null): void {
    this.datagrams++
    const targets = to === null ? this.nodes.map((_, i) => i) : [to]
    for (const t of targets) {
      if (!this.nodes[t] || this.sides[t] !== this.sides[from] || this.lostLink?.(from, t)) continue
      // Multicast loop to ourselves never loses.
      const self = t === from
      if (!self && this.random.chance(this.faults.loss)) continue
      const copies = !self && this.random.chance(this.faults.duplicate) ? 2 : 1
      for (let c = 0; c < copies; c++) {
        const delay = self ? 1000 : this.faults.delayNs + Math.floor(this.random.next() * this.faults.jitterNs)
        this.at(this.nowNs + delay, () => {
          if (this.sides[t] === this.sides[from]) this.nodes[t]!.input(data, from)
        })
      }
    }
  }
}
