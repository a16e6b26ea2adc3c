// A transfer as its source runs it: BEGIN (name, receivers, size), the
// object's bytes in DATA messages of at most one record each (never
// fragmented), END (length and CRC-32C), all in the source's stream on the
// system channel; then the receivers' ACKs. It reads the source a block at a
// time and goes on only when send() has room (the 'drain' convention), so
// neither the object nor more than a block of it is ever held here.
import { EventEmitter } from 'node:events'
import { open, stat } from 'node:fs/promises'
import { finished, type Readable } from 'node:stream'

import { addon } from '../engine.js'
import { AbortError, TroupeError } from '../errors.js'
import type { View } from '../message.js'
import type { TransferProgress } from './incoming.js'
import { encodeAbort, encodeBegin, encodeEnd, HEADER, Kind, writeHeader, type Ack, type AckStatus } from './wire.js'

const BLOCK = 1 << 20 // bytes read from a file at a time
// A block of the source this large is sent as it is (in chunks of at most
// maxChunk, the last one shorter); smaller ones are gathered into chunks.
// (A Readable's 1 MiB blocks against 1 MiB - 16 B chunks: gathered, every
// byte was copied once more, 3% of the source's time.)
const DIRECT_MIN = 64 << 10
const PROGRESS_EVERY = 1 << 20

/** What transfer() takes: bytes, a Node Readable (of Buffers or Uint8Arrays), or a file's path. */
export type TransferSource = Uint8Array | Readable | string

/** What an outgoing transfer asks of its room. */
export interface OutgoingPort {
  /**
   * One message on the system channel (`head`, if given, then `message`,
   * written one after the other, not joined first); false: queued, wait for
   * drained().
   */
  send(message: Uint8Array, head?: Uint8Array): boolean
  /** Resolves at the next 'drain' (rejects once the group is closed). */
  drained(): Promise<void>
  /** The largest DATA payload: a chunk (room.ts: 1 MiB, at most maxMessageSize, at least one record). */
  readonly maxChunk: number
}

export interface TransferResult {
  id: number
  name: string
  /** Every receiver, each of which verified the checksum. */
  to: readonly string[]
  bytes: number
  crc32c: number
  ms: number
}

export interface OutgoingProgress extends TransferProgress {
  /** Receivers that hold all of it, so far. */
  acked: number
}

/** Some receivers do not hold the object: `delivered` do, `missing` left the group first, `failed` said why not. */
export class TransferError extends TroupeError {
  constructor(
    message: string,
    readonly delivered: readonly string[],
    readonly missing: readonly string[],
    readonly failed: readonly { member: string; status: AckStatus; detail: string }[],
  ) {
    super('ERR_TROUPE_TRANSFER_INCOMPLETE', message)
  }
  override get name(): string {
    return 'TransferError'
  }
}

export interface Transfer {
  on(event: 'progress', listener: (p: OutgoingProgress) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
}

/** One object going to a fixed set of members. Await it (it is a promise of the result) and listen for 'progress'. */
export class Transfer extends EventEmitter implements PromiseLike<TransferResult> {
  readonly id: number
  readonly name: string
  readonly to: readonly string[]
  /** The object's size: a Uint8Array's, a file's once it was looked at, null for a Readable. */
  size: number | null
  /** Bytes handed to the group so far. */
  bytes = 0
  private crc = 0
  private readonly acks = new Map<string, Ack>()
  private readonly gone = new Set<string>()
  private readonly started = performance.now()
  private ended = false // END (or ABORT) is out
  private settled = false
  private lastProgress = 0
  private readonly done: Promise<TransferResult>
  private resolve!: (r: TransferResult) => void
  private reject!: (e: Error) => void

  constructor(id: number, info: { name: string; to: readonly string[]; size: number | null }, private readonly port: OutgoingPort, private readonly signal: AbortSignal | undefined) {
    super()
    this.id = id
    this.name = info.name
    this.to = Object.freeze([...info.to])
    this.size = info.size
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    this.done.catch(() => {}) // (an unawaited failed transfer is not an unhandled rejection: the caller sees it when it awaits)
    signal?.addEventListener('abort', this.onAbort, { once: true })
  }

  private readonly onAbort = () => {
    if (this.settled) return
    this.stopSending('aborted by its source')
    this.fail(new AbortError(`transfer '${this.name}' was aborted`, { cause: this.signal?.reason }))
  }

  /** Nothing more goes out: ABORT tells the receivers, unless END (or ABORT) did already. */
  private stopSending(reason: string): void {
    if (!this.ended) this.port.send(encodeAbort(this.id, reason))
    this.ended = true
  }

  /** The outcome is decided (false: it was already). */
  private settle(): boolean {
    if (this.settled) return false
    this.settled = true
    this.signal?.removeEventListener('abort', this.onAbort)
    return true
  }

  then<A = TransferResult, B = never>(onFulfilled?: ((r: TransferResult) => A | PromiseLike<A>) | null, onRejected?: ((e: any) => B | PromiseLike<B>) | null): Promise<A | B> {
    return this.done.then(onFulfilled, onRejected)
  }

  /** Sends the whole object; the outcome comes through the promise. */
  async run(source: TransferSource): Promise<void> {
    try {
      if (typeof source === 'string') {
        const st = await stat(source)
        if (st.isFile()) this.size = st.size
      }
      if (this.settled) return
      this.port.send(encodeBegin(this.id, { name: this.name, to: [...this.to], size: this.size }))
      const max = this.port.maxChunk
      const message = new Uint8Array(HEADER + max)
      writeHeader(message, Kind.data, this.id)
      let fill = 0
      const head = message.subarray(0, HEADER)
      const sent = async (piece: Uint8Array, room: boolean) => {
        this.crc = addon.crc32c(piece, this.crc)
        this.bytes += piece.length
        if (this.bytes - this.lastProgress >= PROGRESS_EVERY) this.progress()
        if (!room) await this.port.drained()
      }
      const flush = async () => {
        const n = fill
        fill = 0
        await sent(message.subarray(HEADER, HEADER + n), this.port.send(message.subarray(0, HEADER + n)))
      }
      for await (const block of blocks(source)) {
        if (block.length >= DIRECT_MIN) {
          // A large block goes into the stream as it is, in chunks behind the
          // header (the outbox writes the header with each chunk's first
          // fragment): no copy into `message` first.
          if (fill > 0) await flush()
          for (let at = 0; at < block.length; at += max) {
            if (this.settled) return
            const piece = block.subarray(at, Math.min(at + max, block.length))
            await sent(piece, this.port.send(piece, head))
          }
          continue
        }
        // Small blocks are gathered into chunks of `max`.
        for (let at = 0; at < block.length;) {
          if (this.settled) return
          const n = Math.min(max - fill, block.length - at)
          message.set(block.subarray(at, at + n), HEADER + fill)
          fill += n
          at += n
          if (fill === max) await flush()
        }
      }
      if (fill > 0) await flush()
      if (this.settled) return
      if (this.size !== null && this.bytes !== this.size) throw new TroupeError('ERR_TROUPE_TRANSFER_ABORTED', `transfer '${this.name}': the source gave ${this.bytes} bytes, not the ${this.size} it said`)
      this.port.send(encodeEnd(this.id, { bytes: this.bytes, crc: this.crc }))
      this.ended = true
      this.progress()
      this.check()
    } catch (err) {
      if (this.settled) return
      this.stopSending(String((err as Error)?.message ?? err))
      this.fail(err as Error)
    }
  }

  /** A receiver's ACK. */
  onAck(from: string, ack: Ack): void {
    if (this.settled || !this.to.includes(from) || this.acks.has(from)) return
    this.acks.set(from, ack)
    this.progress()
    this.check()
  }

  /** A new view: receivers not in it that have not acked are missing. */
  onView(view: View): void {
    if (this.settled) return
    for (const m of this.to) if (!this.acks.has(m) && !view.members.includes(m)) this.gone.add(m)
    this.check()
  }

  /** The group closed (or this member rejoined as a new incarnation): it fails at once. */
  fail(error: Error): void {
    if (this.settle()) this.reject(error)
  }

  private check(): void {
    if (this.settled) return
    const waiting = this.to.some((m) => !this.acks.has(m) && !this.gone.has(m))
    if (!this.ended) {
      if (waiting || this.to.length === 0) return
      // Every receiver left before the end: no one to send the rest to.
      this.stopSending('no receiver left')
    } else if (waiting) {
      return
    }
    this.settle()
    const delivered = this.to.filter((m) => this.acks.get(m)?.status === 'ok')
    const failed = [...this.acks].filter(([, a]) => a.status !== 'ok').map(([member, a]) => ({ member, status: a.status, detail: a.detail }))
    const missing = [...this.gone]
    if (failed.length === 0 && missing.length === 0) {
      this.resolve({ id: this.id, name: this.name, to: this.to, bytes: this.bytes, crc32c: this.crc, ms: performance.now() - this.started })
      return
    }
    const says = [
      missing.length ? `${missing.join(', ')} left the group before holding it` : '',
      ...failed.map((f) => `${f.member}: ${f.status}${f.detail ? ` (${f.detail})` : ''}`),
    ].filter(Boolean)
    this.reject(new TransferError(`transfer '${this.name}' reached ${delivered.length} of ${this.to.length} receivers: ${says.join('; ')}`, delivered, missing, failed))
  }

  private progress(): void {
    this.lastProgress = this.bytes
    this.emit('progress', { bytes: this.bytes, size: this.size, acked: this.acks.size } satisfies OutgoingProgress)
  }
}

/** The source's bytes, a block at a time (a file's block is reused: copy it before asking for the next). */
async function* blocks(source: TransferSource): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source
  } else if (typeof source === 'string') {
    const file = await open(source, 'r')
    try {
      const block = new Uint8Array(BLOCK)
      for (;;) {
        const { bytesRead } = await file.read(block, 0, BLOCK, null)
        if (bytesRead === 0) return
        yield block.subarray(0, bytesRead)
      }
    } finally {
      await file.close()
    }
  } else {
    for await (const chunk of chunksOf(source)) {
      if (typeof chunk === 'string') yield Buffer.from(chunk)
      else if (chunk instanceof Uint8Array) yield chunk
      else throw new TypeError(`transfer(): the source stream gave a ${typeof chunk}, not bytes (use a byte stream, not an object-mode one)`)
    }
  }
}

/**
 * A Readable's chunks as it pushed them ('data' events, paused while one
 * waits). Its async iterator reads with read(), which joins what is
 * buffered into a fresh buffer: a copy of most bytes (10% of a source's
 * time). Ends as the iterator does: an error or a premature close throws,
 * and the stream is destroyed if the caller stops early.
 */
async function* chunksOf(stream: Readable): AsyncGenerator<unknown> {
  const waiting: unknown[] = []
  let ended = false
  let failed: Error | null = null
  let wake: (() => void) | null = null
  const onData = (chunk: unknown) => {
    waiting.push(chunk)
    stream.pause()
    wake?.()
  }
  const stopWatching = finished(stream, { writable: false }, (err) => {
    if (err) failed = err
    else ended = true
    wake?.()
  })
  stream.on('data', onData)
  try {
    for (;;) {
      if (waiting.length > 0) {
        const chunk = waiting.shift()
        if (waiting.length === 0 && !ended) stream.resume()
        yield chunk
        continue
      }
      if (failed) throw failed
      if (ended) return
      await new Promise<void>((resolve) => (wake = resolve))
      wake = null
    }
  } finally {
    stream.off('data', onData)
    stopWatching()
    if (!ended && !stream.destroyed) stream.destroy()
  }
}
