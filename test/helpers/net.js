// A hand-driven network of ManualCores (the native reliability core without
// threads or sockets) for tests: every packet the cores send is queued here,
// and the test decides when it arrives, whether it is lost, and what time it is.
import { addon } from '../../dist/engine.js'
import { decodeRecords } from '../../dist/node/records.js'

export const MS = 1e6
export const DATA = 1, STATUS = 2, NAK = 3, LEAVE = 4, CONTROL = 5

export const defaults = {
  groupHash: 0x1234abcd,
  datagramSize: 1024,
  windowBytes: 64 * 1024,
  receiveSlots: 1024,
  statusIntervalNs: 10 * MS,
  nakDelayNs: 1 * MS,
  nakRetryNs: 10 * MS,
  xmitHoldNs: 2 * MS,
  suspectTimeoutNs: 1000 * MS,
  seed: 7,
}

/**
 * A core's take(), its records decoded and sorted by kind (each kind in the
 * order written). A message put together from fragments is delivered as
 * one, at its last seq (`first`: its first); seqs the core skipped or
 * dropped in assembly are in `skipped`.
 */
export function takeAll(core) {
  const { sent, records } = core.take()
  const out = { sent, delivered: [], peers: [], controls: [], stables: [], skipped: [] }
  for (const r of decodeRecords(records, core)) {
    if (r.type === 'message') out.delivered.push({ peer: r.peer, seq: r.seq, view: r.view, order: r.order, frag: r.frag, data: r.data })
    else if (r.type === 'assembled') out.delivered.push({ peer: r.peer, seq: r.last, first: r.first, view: r.view, order: r.order, frag: 0, data: r.data })
    else if (r.type === 'skipped') out.skipped.push({ peer: r.peer, first: r.first, last: r.last })
    else if (r.type === 'peerUp') out.peers.push({ event: 'up', peer: r.peer, id: r.id, name: r.name })
    else if (r.type === 'peerDown') out.peers.push({ event: 'down', peer: r.peer, id: r.id, reason: r.reason })
    else if (r.type === 'control') out.controls.push({ sender: r.sender, data: r.data })
    else if (r.type === 'stable') out.stables.push({ peer: r.peer, seq: r.seq })
  }
  return out
}

export class Net {
  /**
   * `path`: a network that is not instant. Each member sends through its own
   * link of `bytesPerSec` (0: no limit; datagrams queue behind one another)
   * and a datagram arrives `latencyNs` after it left the link.
   */
  constructor(n, options = {}, now = 0, path = { latencyNs: 0, bytesPerSec: 0 }) {
    this.now = now
    this.path = path
    this.linkFree = new Array(n).fill(now) // when each member's link is free again
    this.cores = []
    this.queue = [] // { from, to (index), data, type, at (arrival time) }
    this.delivered = []
    this.skipped = []
    this.peerEvents = []
    this.controls = []
    for (let i = 0; i < n; i++) {
      this.cores.push(new addon.ManualCore({ ...defaults, name: `m${i}`, self: BigInt(i + 1), ...options }, now))
      this.delivered.push([])
      this.skipped.push([])
      this.peerEvents.push([])
      this.controls.push([])
    }
  }

  /** Collects what every core sent; multicast goes to every core (ourselves too: multicast loop). */
  collect() {
    this.cores.forEach((core, from) => {
      const out = takeAll(core)
      for (const d of out.delivered) this.delivered[from].push(d)
      for (const d of out.skipped) this.skipped[from].push(d)
      for (const e of out.peers) this.peerEvents[from].push(e)
      for (const c of out.controls) this.controls[from].push(c)
      for (const s of out.sent) {
        const type = s.data[3]
        const at = this.arrival(from, s.data.length)
        if (s.to === null) this.cores.forEach((_, to) => this.queue.push({ from, to, data: s.data, type, at }))
        else this.queue.push({ from, to: s.to.ip - 1, data: s.data, type, at })
      }
    })
  }

  /** When a datagram of `bytes` that `from` sends now arrives (this.path). */
  arrival(from, bytes) {
    const { latencyNs = 0, bytesPerSec = 0 } = this.path
    if (!latencyNs && !bytesPerSec) return this.now
    const leaves = Math.max(this.now, this.linkFree[from]) + (bytesPerSec ? (bytes * 1e9) / bytesPerSec : 0)
    this.linkFree[from] = leaves
    return leaves + latencyNs
  }

  /** Delivers queued packets that have arrived; `filter(packet)` returns false to lose one. Returns the packets handled. */
  deliver(filter = () => true) {
    this.collect()
    const batch = this.queue.filter((p) => p.at <= this.now)
    this.queue = this.queue.filter((p) => p.at > this.now)
    for (const p of batch) if (this.cores[p.to] && filter(p)) this.cores[p.to].input(p.data, p.from + 1, p.from + 1, this.now)
    this.collect()
    return batch
  }

  /** Runs timers of every core at the current time. */
  timers() {
    for (const c of this.cores) if (c.nextDeadline() <= this.now) c.timer(this.now)
    this.collect()
  }

  /** Advances time in steps, running timers and delivering everything that passes `filter`. */
  run(untilNs, stepNs = 0.1 * MS, filter = () => true) {
    while (this.now < untilNs) {
      this.now = Math.min(untilNs, this.now + stepNs)
      this.timers()
      this.deliver(filter)
    }
  }

  /** Everyone hears everyone: a STATUS round. */
  introduce() {
    for (const c of this.cores) c.timer(this.now)
    this.deliver()
  }

  send(from, count, { size = 100, order = 1, tag = 0 } = {}) {
    const core = this.cores[from]
    for (let i = 0; i < count; i++) {
      const data = new Uint8Array(size)
      new DataView(data.buffer).setUint32(0, tag + i, true)
      const r = core.submit(data, order, 0, this.now)
      if (r !== 'ok') return i
    }
    core.flush(this.now)
    this.collect()
    return count
  }

  /** Sequence numbers delivered at `at` from peer index `peer`. */
  seqs(at, peer) {
    return this.delivered[at].filter((d) => d.peer === peer).map((d) => d.seq)
  }
}

export const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i)

/** The peer number core `at` gave to core `from`. */
Net.prototype.peerOf = function (at, from) {
  const id = (from + 1).toString(16).padStart(16, '0')
  const e = this.peerEvents[at].findLast((e) => e.event === 'up' && e.id === id)
  if (!e) throw new Error(`core ${at} has not heard core ${from}`)
  return e.peer
}
