// Causal order: a causal message is delivered only after every causal
// message its sender had delivered (or sent) before sending it.
//
// Vector timestamps over the view's member ranks, kept compact: a causal
// message carries a 5-byte header when its sender delivered no new causal
// message since its previous one in the view ("same deps as before"), and
// the full vector (4 bytes a member) only when something changed, so a burst
// shares one vector. The header names its view: a message sent in an earlier
// view (it waited in the ring through a flush) has no dependency the flush
// did not already deliver.
//
//   header: u8 kind (0 same deps, 1 vector) | u32 view | [u16 n | n x u32 count]
//
// At a view change the flush gives every member the same messages; a causal
// message whose dependencies nobody delivered (lost with a crashed member)
// was delivered by no one, and every member drops it alike.
import type { Message, View } from '../message.js'
import { Arrival, type Lane, type OrderPolicy } from './policy.js'
import { Queue } from './queue.js'

const SAME = 0
const VECTOR = 1

export class CausalOrder implements OrderPolicy {
  readonly order = 'causal' as const
  private readonly deps = new Map<string, Queue<number[] | null>>() // per lane: the dependencies of its waiting causal messages, in order
  private ranks = new Map<string, number>() // member id -> rank in the view
  private delivered: number[] = [] // causal messages delivered per rank, this view
  private view = 0
  private me = -1
  private sent = 0 // our causal messages sent in this view
  private changedSinceSend = true
  private readonly last = new Map<string, number[]>() // sender -> its previous vector this view
  /** Causal messages dropped at a view change (their dependencies were lost with a crashed member). */
  dropped = 0

  /** receiveOwn: we deliver our own messages (so our own count is what we delivered, not what we sent). */
  constructor(private readonly receiveOwn: boolean) {}

  /** A new view: ranks and counts start over. */
  onView(view: View, me: string): void {
    const members = view.members
    this.view = view.id
    this.ranks = new Map(members.map((m, i) => [m, i]))
    this.delivered = members.map(() => 0)
    this.me = this.ranks.get(me) ?? -1
    this.sent = 0
    this.changedSinceSend = true
    this.last.clear()
    for (const [id, q] of this.deps) if (q.length === 0 || !members.includes(id)) this.deps.delete(id)
  }

  /** The header for our next causal message (call at send). */
  header(): Uint8Array {
    if (!this.changedSinceSend && this.sent > 0) {
      const h = new Uint8Array(5)
      h[0] = SAME
      new DataView(h.buffer).setUint32(1, this.view, true)
      this.sent++
      return h
    }
    const n = this.delivered.length
    const h = new Uint8Array(7 + 4 * n)
    const v = new DataView(h.buffer)
    h[0] = VECTOR
    v.setUint32(1, this.view, true)
    v.setUint16(5, n, true)
    for (let k = 0; k < n; k++) v.setUint32(7 + 4 * k, k === this.me ? this.sent : this.delivered[k]!, true)
    this.sent++
    this.changedSinceSend = false
    return h
  }

  /**
   * Reads a causal message's header (in its sender's FIFO order): keeps its
   * dependencies and returns the application's bytes, or null if malformed.
   */
  unwrap(lane: Lane, data: Uint8Array): Uint8Array | null {
    if (data.length < 5) return null
    const v = new DataView(data.buffer, data.byteOffset, data.length)
    const view = v.getUint32(1, true)
    let length = 5
    let vector: number[] | null = null
    if (data[0] === VECTOR) {
      if (data.length < 7) return null
      const n = v.getUint16(5, true)
      length = 7 + 4 * n
      if (data.length < length) return null
      vector = Array.from({ length: n }, (_, k) => v.getUint32(7 + 4 * k, true))
      if (view === this.view) this.last.set(lane.id, vector)
    } else if (data[0] === SAME) {
      vector = view === this.view ? (this.last.get(lane.id) ?? null) : null
    } else {
      return null
    }
    let q = this.deps.get(lane.id)
    if (!q) this.deps.set(lane.id, (q = new Queue()))
    // Sent in an earlier view: everything it could depend on was delivered by that view's end.
    q.push(view === this.view ? vector : null)
    return data.subarray(length)
  }

  onMessage(): Arrival {
    return Arrival.waits
  }

  /** May the head of `lane`, a causal message, be delivered now (all it depends on delivered)? */
  ready(lane: Lane): boolean {
    const deps = this.deps.get(lane.id)!.peek()!
    if (deps === null) return true
    const j = this.ranks.get(lane.id)
    for (let k = 0; k < deps.length; k++) {
      if (k === j) continue // its own earlier messages: FIFO already
      const have = k === this.me && !this.receiveOwn ? this.sent : (this.delivered[k] ?? 0)
      if (deps[k]! > have) return false
    }
    return true
  }

  /** The head of `lane`, a causal message, was delivered. */
  onDelivered(lane: Lane, _msg: Message): void {
    this.deps.get(lane.id)!.shift()
    const k = this.ranks.get(lane.id)
    if (k === undefined) return
    this.delivered[k]!++
    if (k !== this.me) this.changedSinceSend = true
  }

  /** The head of `lane`, a causal message whose dependencies were lost with a crashed member, is dropped (at a view's end, everywhere). */
  drop(lane: Lane): void {
    this.deps.get(lane.id)!.shift()
    this.dropped++
  }
}
