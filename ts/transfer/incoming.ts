// A transfer as its receiver gets it: a Readable of the object's bytes, in
// order, ended once the source's END came and the checksum matched (else it
// errors). Its buffer is bounded: while it holds highWaterMark bytes the
// group stops taking records from its inbound ring (as a full iterator does),
// so the engine stops reading, the kernel buffers and the source's
// flow-control window holds it back. Nothing of the object is kept here
// beyond that buffer.
import { Readable } from 'node:stream'

import { addon } from '../engine.js'
import { TroupeError } from '../errors.js'
import type { AckStatus, End } from './wire.js'

export const INCOMING_HIGH_WATER_MARK = 4 << 20
const PROGRESS_EVERY = 1 << 20

/** What a receiving transfer asks of its room. */
export interface IncomingHost {
  /** The stream's buffer is full (true) or was read from (false). */
  hold(transfer: IncomingTransfer, held: boolean): void
}

export interface TransferProgress {
  /** Bytes moved so far (sent, or received). */
  bytes: number
  /** The object's size, if the source knew it (a Readable's is not known). */
  size: number | null
}

export interface IncomingTransfer {
  on(event: 'progress', listener: (p: TransferProgress) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
}

/** One object coming from `from`; read it (or pipe it to a file), or destroy() it. */
export class IncomingTransfer extends Readable {
  /** The source's member id, the transfer's number there, the name it gave the object. */
  readonly from: string
  readonly id: number
  readonly name: string
  /** The size the source announced (null: it did not know, a stream). */
  readonly size: number | null
  /** Receivers the source named, fixed before it began. */
  readonly to: readonly string[]
  /** Bytes received so far. */
  received = 0
  private crc = 0
  private held = false
  private lastProgress = 0

  constructor(from: string, id: number, info: { name: string; size: number | null; to: readonly string[] }, private readonly host: IncomingHost) {
    super({ highWaterMark: INCOMING_HIGH_WATER_MARK })
    this.from = from
    this.id = id
    this.name = info.name
    this.size = info.size
    this.to = Object.freeze([...info.to])
  }

  /** A piece of the object (a view the room does not reuse). */
  accept(data: Uint8Array): void {
    this.received += data.length
    this.crc = addon.crc32c(data, this.crc)
    if (this.destroyed) return // (read to the end, then acked 'destroyed')
    if (!this.push(data) && !this.held) {
      this.held = true
      this.host.hold(this, true)
    }
    if (this.received - this.lastProgress >= PROGRESS_EVERY) this.progress()
  }

  /** The source's END: ends the stream, or errors it; returns what to tell the source. */
  finish(end: End): { status: AckStatus; detail: string } {
    this.release()
    if (this.destroyed) return { status: 'destroyed', detail: 'the receiver destroyed the stream' }
    if (end.bytes !== this.received || end.crc !== this.crc) {
      const detail = `received ${this.received} bytes, CRC-32C ${hex(this.crc)}; the source sent ${end.bytes} bytes, CRC-32C ${hex(end.crc)}`
      this.destroy(new TroupeError('ERR_TROUPE_TRANSFER_CHECKSUM', `transfer ${this.from}/${this.id} '${this.name}': ${detail}`))
      return { status: 'checksum', detail }
    }
    this.progress()
    this.push(null)
    return { status: 'ok', detail: '' }
  }

  /** The transfer will not complete (the source aborted or left): the stream errors. */
  fail(error: Error): void {
    this.release()
    this.destroy(error)
  }

  override _read(): void {
    this.release()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.release()
    callback(error)
  }

  private release(): void {
    if (!this.held) return
    this.held = false
    this.host.hold(this, false)
  }

  private progress(): void {
    this.lastProgress = this.received
    this.emit('progress', { bytes: this.received, size: this.size } satisfies TransferProgress)
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0')
}
