// Bulk transfers (Reliable Group Data Delivery): one object from one member
// to a set of members fixed before it starts, streamed through the group's
// system channel. This room is built on the group as any application could
// be (its messages are ordinary records of the source's stream, in a channel
// of their own), so the group's guarantees are the transfer's:
//
//   - the bytes arrive complete and in order, or the receiver's stream errors;
//     each receiver checks the length and CRC-32C at the END and says so (ACK);
//   - virtual synchrony: every member that goes on into a new view has
//     delivered the same prefix of the source's messages, so when the source
//     leaves or crashes mid-transfer every surviving receiver's stream errors
//     at the same point; a receiver that leaves or crashes is dropped from the
//     set and the transfer goes on to the rest (its promise then rejects with
//     a TransferError naming who does not hold it); a member that joins is
//     never one of the receivers.
//
// Group (group.ts) owns one and feeds it the system channel, views, 'drain'.
import { checkMembers, checkOptions } from '../api.js'
import { TroupeError, argType, checkSignal, throwIfAborted } from '../errors.js'
import type { View } from '../message.js'
import { IncomingTransfer } from './incoming.js'
import { Transfer, type TransferSource } from './outgoing.js'
import { encodeAck, HEADER, Kind, parse } from './wire.js'

/** A transfer's chunk: one message of the system channel (in fragments, put together by the engine). */
const TRANSFER_CHUNK = 1 << 20

export interface TransferOptions {
  /** The receivers, member ids of the current view (default: everyone else in it). */
  to?: readonly string[]
  /** A name for the object, handed to the receivers (default: the file's path, else 'transfer-<id>'). */
  name?: string
  /** Aborting it stops the transfer: the receivers' streams error, the promise rejects with an AbortError. */
  signal?: AbortSignal
}
const OPTION_KEYS = ['to', 'name', 'signal']

/** What the room asks of its group. */
export interface TransfersPort {
  me(): string
  view(): View
  /** One message on the system channel, after `head` if given (false: queued; 'drain' follows). */
  send(message: Uint8Array, head?: Uint8Array): boolean
  /** The largest message that fits one record (no fragments). */
  maxRecord(): number
  /** The group's maxMessageSize: the largest message the members put together. */
  maxMessage(): number
  /** Hands a new incoming transfer to the 'transfer' listeners; false if there are none. */
  incoming(transfer: IncomingTransfer): boolean
  /** A stream that was full has room again: take records again. */
  resume(): void
}

export class Transfers {
  private nextId = 1
  private readonly outgoing = new Map<number, Transfer>()
  private readonly incoming = new Map<string, IncomingTransfer>() // by `from/id`
  private readonly unwanted = new Set<IncomingTransfer>()
  private readonly full = new Set<IncomingTransfer>()
  private drainWaiters: { resolve: () => void; reject: (e: Error) => void }[] = []
  private closedWith: Error | null = null
  /** System messages dropped as malformed (those about transfers this member is not part of are ignored, not counted). */
  dropped = 0

  constructor(private readonly port: TransfersPort) {}

  /** An incoming stream is full: take nothing more from the inbound ring. */
  get held(): boolean {
    return this.full.size > 0
  }

  /** Transfers under way here (as source, as receiver). */
  get counts(): { outgoing: number; incoming: number } {
    return { outgoing: this.outgoing.size, incoming: this.incoming.size }
  }

  start(source: TransferSource, options: TransferOptions = {}): Transfer {
    const isReadable = typeof source === 'object' && source !== null && typeof (source as { pipe?: unknown }).pipe === 'function' && Symbol.asyncIterator in source
    if (!(source instanceof Uint8Array) && typeof source !== 'string' && !isReadable) {
      throw argType('the source of transfer()', 'a Uint8Array (or Buffer), a Readable stream or a file path', source)
    }
    checkOptions('transfer()', options, OPTION_KEYS)
    const signal = checkSignal('option signal of transfer()', options.signal)
    throwIfAborted(signal, 'transfer()')
    if (this.closedWith) throw this.closedWith
    const me = this.port.me()
    const view = this.port.view()
    const to = options.to === undefined ? view.members.filter((m) => m !== me) : checkMembers('transfer()', options.to, me, view, 'the source is not one of the receivers', false)
    const id = this.nextId++
    let name = options.name
    if (name === undefined) name = typeof source === 'string' ? source : `transfer-${id}`
    if (typeof name !== 'string') throw argType('option name of transfer()', 'a string', name)
    const size = source instanceof Uint8Array ? source.length : null
    const transfer = new Transfer(id, { name, to, size }, {
      send: (message, head) => this.port.send(message, head),
      drained: () => new Promise((resolve, reject) => {
        if (this.closedWith) reject(this.closedWith)
        else this.drainWaiters.push({ resolve, reject })
      }),
      // 1 MiB, but no more than the members put together (maxMessageSize),
      // nor less than one record (never fragmented).
      maxChunk: Math.max(this.port.maxRecord(), Math.min(TRANSFER_CHUNK, this.port.maxMessage())) - HEADER,
    }, signal)
    this.outgoing.set(id, transfer)
    const forget = () => this.outgoing.delete(id)
    transfer.then(forget, forget)
    void transfer.run(source)
    return transfer
  }

  /** A message of the system channel, delivered in its sender's stream order. */
  onMessage(sender: string, data: Uint8Array): void {
    const me = this.port.me()
    if (sender === me) return // (our own, with receiveOwn)
    const m = parse(data)
    if (m === null) {
      this.dropped++
      return
    }
    const key = `${sender}/${m.id}`
    switch (m.kind) {
      case Kind.begin: {
        if (!m.begin.to.includes(me) || this.incoming.has(key)) return
        const t = new IncomingTransfer(sender, m.id, m.begin, { hold: (s, held) => this.hold(s, held) })
        this.incoming.set(key, t)
        if (!this.port.incoming(t)) {
          // No one listens: read it to the end (to verify it) and say so.
          this.unwanted.add(t)
          t.resume()
        }
        return
      }
      case Kind.data: {
        const t = this.incoming.get(key)
        if (t) t.accept(m.data)
        return
      }
      case Kind.end: {
        const t = this.incoming.get(key)
        if (!t) return
        this.incoming.delete(key)
        let answer = t.finish(m.end)
        if (this.unwanted.delete(t) && answer.status === 'ok') answer = { status: 'unwanted', detail: "no 'transfer' listener" }
        this.port.send(encodeAck(m.id, { source: sender, ...answer }))
        return
      }
      case Kind.abort: {
        const t = this.incoming.get(key)
        if (!t) return
        this.forget(key, t)
        t.fail(new TroupeError('ERR_TROUPE_TRANSFER_ABORTED', `transfer ${key} '${t.name}' was aborted by its source: ${m.reason}`))
        return
      }
      case Kind.ack: {
        if (m.ack.source === me) this.outgoing.get(m.id)?.onAck(sender, m.ack)
        return
      }
    }
  }

  /** A new view: sources gone end their receivers' streams; receivers gone are missing. */
  onView(view: View): void {
    for (const [key, t] of this.incoming) {
      if (view.members.includes(t.from)) continue
      this.forget(key, t)
      t.fail(new TroupeError('ERR_TROUPE_TRANSFER_ABORTED', `transfer ${key} '${t.name}': its source left the group after ${t.received} bytes`))
    }
    for (const t of [...this.outgoing.values()]) t.onView(view)
  }

  /** The group's send queue drained. */
  drained(): void {
    const waiters = this.drainWaiters
    this.drainWaiters = []
    for (const w of waiters) w.resolve()
  }

  /**
   * This incarnation is over (`final`: the group closed, else it rejoins as
   * a new one, whose id no source knows): every transfer here fails.
   */
  close(error: Error, final: boolean): void {
    if (final) this.closedWith = error
    for (const [key, t] of this.incoming) {
      this.forget(key, t)
      t.fail(error)
    }
    for (const t of [...this.outgoing.values()]) t.fail(error)
    const waiters = this.drainWaiters
    this.drainWaiters = []
    for (const w of waiters) w.reject(error)
  }

  private forget(key: string, t: IncomingTransfer): void {
    this.incoming.delete(key)
    this.unwanted.delete(t)
  }

  private hold(t: IncomingTransfer, held: boolean): void {
    const was = this.full.size > 0
    if (held) this.full.add(t)
    else this.full.delete(t)
    // Caught up: take what waits in the ring (on a fresh turn of the loop, not inside the reader's read()).
    if (was && this.full.size === 0) setImmediate(() => this.port.resume())
  }
}
