// The hold-back queues: every sender's messages that wait for their order,
// in one lane per sender (so that FIFO holds across the kinds: a sender's
// fifo message never overtakes its earlier total one), and the loop that
// delivers lane heads as the order policies allow. One policy per order
// (policy.ts); this module only asks them.
//
//   arrival (node/receiver.ts emit) → policy.unwrap, policy.onMessage:
//     now / inOrder → delivered (inOrder: unless its lane has messages waiting)
//     waits         → its lane; drain(): the next placed total/safe head
//                     (total.ts), then causal heads whose dependencies are
//                     delivered, until nothing moves
//   a head that goes takes its sender's fifo messages behind it along.
//
// Where every member holds the same messages (a barrier's cut, a view's
// end) the heads left go in one order computed alike everywhere
// (deliverBarrier, finish).
import { ROOM_BIT } from '../boundary.js'
import { Message, RoomMessage, type View } from '../message.js'
import { ORDERS, type Order } from '../options.js'
import { CausalOrder } from './causal.js'
import { FifoOrder } from './fifo.js'
import { Arrival, type Lane, type OrderPolicy } from './policy.js'
import { SafeOrder } from './safe.js'
import { SyncOrder } from './sync.js'
import { TotalOrder } from './total.js'
import { UnorderedOrder } from './unordered.js'

const BARRIER_FORCED: ReadonlySet<string> = new Set(['total', 'safe'])

export interface HoldBackHost {
  /** To the application. */
  deliver(msg: Message): void
  /** Our view's lane of this sender, if it is in our view. */
  laneOf(hex: string): Lane | undefined
  /** The lanes of our view's members. */
  lanes(): readonly Lane[]
  /** Are we the view's coordinator (the sequencer, who runs barriers)? */
  coordinating(): boolean
  /** Frozen for a flush (safe messages wait for its end). */
  frozen(): boolean
  /** A sync message wants a barrier flush. */
  wantBarrier(): void
}

export class HoldBack {
  readonly total: TotalOrder
  readonly causal: CausalOrder
  private readonly safe: SafeOrder
  private readonly byCode: readonly OrderPolicy[] // by the wire's order code (0..5)
  private readonly byName: Readonly<Record<Order, OrderPolicy>>
  private deliveries = 0 // heads delivered, to see whether a pass made progress
  private finishing = false // at a barrier's cut or a view's end: every member holds what is left

  constructor(private readonly host: HoldBackHost, config: { maxRecord: number; receiveOwn: boolean }) {
    this.total = new TotalOrder(config.maxRecord, (hex) => host.laneOf(hex), () => host.coordinating())
    this.causal = new CausalOrder(config.receiveOwn)
    this.safe = new SafeOrder(this.total, () => (this.finishing ? 'finishing' : host.frozen() ? 'frozen' : 'normal'))
    const sync = new SyncOrder(() => host.coordinating(), () => host.wantBarrier())
    const policies: OrderPolicy[] = [new UnorderedOrder(), new FifoOrder(), this.causal, this.total, this.safe, sync]
    this.byName = Object.fromEntries(policies.map((p) => [p.order, p])) as Record<Order, OrderPolicy>
    this.byCode = ORDERS.map((order) => this.byName[order]) // a code is an order's place in ORDERS (boundary.ts checks the addon agrees)
  }

  /** Messages waiting for their order, at every lane. */
  get held(): number {
    let n = 0
    for (const lane of this.host.lanes()) n += lane.waiting.length
    return n
  }

  /**
   * A message of order `code` (the wire's 0..5, | ROOM_BIT for a room's) from `lane`'s sender, whole
   * (`first`, `last`: the seqs of its first and last fragment). False if it
   * is dropped (an order this version does not know, a malformed header).
   */
  onMessage(lane: Lane, code: number, first: number, last: number, data: Uint8Array): boolean {
    const policy = this.byCode[code & ~ROOM_BIT]
    if (policy === undefined) return false
    const bytes = policy.unwrap(lane, data)
    if (bytes === null) return false
    const msg = code & ROOM_BIT ? new RoomMessage(lane.id, bytes, policy.order, first, last) : new Message(lane.id, bytes, policy.order, first)
    const arrival = policy.onMessage(msg, lane, last)
    if (arrival === Arrival.now || (arrival === Arrival.inOrder && lane.waiting.length === 0)) {
      this.host.deliver(msg)
      return true
    }
    lane.waiting.push(msg)
    if (arrival === Arrival.waits) this.drain()
    return true
  }

  /** An ORDER record from the sequencer (total.ts). False if malformed. */
  onRecord(data: Uint8Array): boolean {
    if (!this.total.onRecord(data)) return false
    this.drain()
    return true
  }

  /** Every member holds `lane`'s stream up to `seq`: safe messages up to there may go. */
  onStable(lane: Lane, seq: number): void {
    if (seq <= lane.stableSeq) return
    lane.stableSeq = seq
    if (this.safe.waits(lane)) this.drain()
  }

  /** Does a lane of `lanes` have a sync message at its head (a barrier to run)? */
  syncWaiting(): boolean {
    for (const lane of this.host.lanes()) if (lane.waiting.peek()?.order === 'sync') return true
    return false
  }

  /** A new view: every policy forgets what it keeps of members not in it. */
  onView(view: View, me: string): void {
    for (const p of this.byCode) p.onView(view, me)
  }

  /** Delivers what the policies allow, until nothing more moves. */
  drain(): void {
    for (let before = -1; before !== this.deliveries; ) {
      before = this.deliveries
      for (let lane = this.total.nextLane(); lane !== undefined && this.readyHead(lane); lane = this.total.nextLane()) this.deliverHead(lane)
      for (const lane of this.host.lanes()) {
        while (lane.waiting.peek()?.order === 'causal' && this.readyHead(lane)) this.deliverHead(lane)
      }
    }
  }

  /**
   * Where every member holds the same messages (a barrier's cut, a view's
   * end): the waiting messages in the one order the view's end uses, up to
   * each sender's first sync message; then those sync messages, by sender
   * id. `lanes` by sender id. False if there was no sync message to deliver.
   */
  deliverBarrier(lanes: readonly Lane[]): boolean {
    this.finishing = true
    try {
      this.forceInOrder(lanes, BARRIER_FORCED)
      let any = false
      for (const lane of lanes) {
        if (lane.waiting.peek()?.order !== 'sync') continue
        this.deliverHead(lane)
        any = true
      }
      return any
    } finally {
      this.finishing = false
    }
  }

  /**
   * The view's end: every survivor holds the same messages now, so this is
   * the same at every member. Round by round, as barriers would (a member
   * that got a barrier's RELEASE delivered its first round already, one
   * whose RELEASE was lost delivers it here, at the same place): the placed
   * total runs and what causality allows, the unplaced total and safe
   * messages by sender id, each sender's first sync message; again until no
   * sync message is left. Causal messages whose dependencies were lost with
   * a crashed member are dropped (nobody could deliver them). `lanes` by
   * sender id.
   */
  finish(lanes: readonly Lane[]): void {
    for (;;) {
      if (this.deliverBarrier(lanes)) continue
      const stuck = lanes.filter((lane) => lane.waiting.length)
      if (stuck.length === 0) break
      for (const lane of stuck) {
        const head = lane.waiting.shift()! // a causal message: the rest went above
        if (head.order === 'causal') this.causal.drop(lane)
        else this.host.deliver(head)
        while (lane.waiting.peek()?.order === 'fifo') this.host.deliver(lane.waiting.shift()!)
      }
    }
    // (The view's runs are done: onView, at the install that follows, starts them over.)
  }

  /** Drains, then delivers the heads whose order is in `kinds` one at a time by sender id (causality may free others in between), until nothing moves. */
  private forceInOrder(lanes: readonly Lane[], kinds: ReadonlySet<string>): void {
    for (let before = -1; before !== this.deliveries; ) {
      this.drain()
      before = this.deliveries
      const lane = lanes.find((x) => kinds.has(x.waiting.peek()?.order ?? ''))
      if (lane) this.deliverHead(lane)
    }
  }

  private readyHead(lane: Lane): boolean {
    const head = lane.waiting.peek()
    return head !== undefined && this.byName[head.order].ready(lane, head)
  }

  /** Delivers the head of a lane and the fifo messages behind it. */
  private deliverHead(lane: Lane): void {
    const msg = lane.waiting.shift()
    if (!msg) return
    this.deliveries++
    this.byName[msg.order].onDelivered(lane, msg)
    this.host.deliver(msg)
    while (lane.waiting.peek()?.order === 'fifo') this.host.deliver(lane.waiting.shift()!)
  }
}
