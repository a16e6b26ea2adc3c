// State transfer, sans-IO. A giver takes the application's state exactly at
// the boundary of a view that adds members and keeps it for a while; a joiner
// pulls it in chunks from one giver, turning to the next when that one dies
// or goes quiet (every giver took the same state at the same boundary).
//
//   joiner ── stateRequest(view, offset, length) ──► giver
//          ◄── stateChunk(view, offset, total, bytes) ×n ──
//   at most STATE_WINDOW chunks (and STATE_WINDOW_BYTES) asked for and not yet here; late ones asked again
import type { Control, Install } from '../membership/messages.js'
import type { View } from '../message.js'

// State chunks asked for and not yet here, at most: 64, and 512 KiB (64
// chunks of an 8 KiB datagram, 8 of 64 KiB: a burst the kernel's buffers take).
const STATE_WINDOW = 64
const STATE_WINDOW_BYTES = 512 * 1024
const STATE_KEEP_MS = 60_000 // how long a giver keeps a state for joiners that may ask

type StateRequest = Extract<Control, { kind: 'stateRequest' }>
type StateChunk = Extract<Control, { kind: 'stateChunk' }>

/**
 * Who gives the state to a view's joiners: the install's named provider and,
 * should it die before the joiners have it all, the next old members, a
 * majority of the old members in all: while the group can go on (a majority
 * of the view lives), one of them does. Each takes the state exactly at the
 * view boundary (nothing of the new view is delivered yet). (With two, a
 * joiner whose two givers died had to start over, and could take the view's
 * majority with it.) None when the group keeps no state.
 */
export function stateGivers(i: Install, view: View): string[] {
  if (i.provider === '') return []
  const old = view.members.filter((m) => m in i.starts)
  return [i.provider, ...old.filter((m) => m !== i.provider).slice(0, Math.floor(old.length / 2))]
}

/** What state transfer needs from the member. */
export interface StateHost {
  now(): number
  send(c: Control, to: string): void
  /** The member is not heard from, or suspected: it will not answer. */
  gone(member: string): boolean
  readonly config: { retry: number; suspectTimeout: number; maxControl: number }
}

/** The bytes of one chunk: what fits one CONTROL datagram, with room for its header. */
function chunkOf(host: StateHost): number {
  return host.config.maxControl - 64
}

/** A giver's side: the states it took, by view, and the chunks it serves. */
export class StateGiver {
  private readonly kept = new Map<number, { bytes: Uint8Array; until: number }>()

  constructor(private readonly host: StateHost) {}

  /** The state taken at the boundary of `view`, for its joiners. */
  keep(view: number, bytes: Uint8Array): void {
    this.kept.set(view, { bytes, until: this.host.now() + STATE_KEEP_MS })
  }

  /** Forgets the states kept past their time. */
  expire(): void {
    const now = this.host.now()
    for (const [view, s] of this.kept) if (s.until < now) this.kept.delete(view)
  }

  /** Forgets every state kept, as if each had expired. */
  clear(): void {
    this.kept.clear()
  }

  serve(from: string, c: StateRequest): void {
    const out = this.kept.get(c.view)
    if (!out) return
    const chunk = chunkOf(this.host)
    const total = out.bytes.length
    if (total === 0) {
      this.host.send({ kind: 'stateChunk', view: c.view, offset: 0, total: 0, bytes: new Uint8Array(0) }, from)
      return
    }
    for (let at = c.offset; at < Math.min(total, c.offset + c.length); at += chunk) {
      this.host.send({ kind: 'stateChunk', view: c.view, offset: at, total, bytes: out.bytes.subarray(at, Math.min(total, at + chunk)) }, from)
    }
  }
}

/** A joiner's side: one state pulled for `view`. */
export class StateTaker {
  private provider: string
  private readonly backups: string[] // givers to ask, in turn, if the provider dies
  private total = -1 // -1 until the first chunk tells
  private readonly chunk: number
  private readonly chunks = new Map<number, Uint8Array>() // offset -> bytes
  private readonly asked = new Map<number, number>() // offset -> when asked (ms), not yet here
  private next = 0 // the first offset never asked for
  private lastAsk = -Infinity
  private heard: number // when a chunk last came (or the transfer started)

  constructor(private readonly host: StateHost, readonly view: number, givers: readonly string[]) {
    this.provider = givers[0]!
    this.backups = givers.slice(1)
    this.chunk = chunkOf(host)
    this.heard = host.now()
  }

  /**
   * Asks for what is missing: the first chunk (which tells the size), then
   * the window's worth; `retryLost` asks again for chunks long overdue.
   * Returns why the transfer cannot go on (no giver left), or null.
   */
  ask(retryLost: boolean): string | null {
    const now = this.host.now()
    const { retry, suspectTimeout } = this.host.config
    // A giver that died, or that is heard but sends nothing (it no longer
    // keeps this view's state): the next one has the same state (taken at the
    // same boundary), start over with it. With none left, the member starts
    // over as a new incarnation rather than hold the group's view changes
    // (the coordinator waits for our INSTALLED) for ever.
    const stalled = now - this.heard > 2 * suspectTimeout + 10 * retry
    if (this.host.gone(this.provider) || stalled) {
      const next = this.backups.shift()
      if (next === undefined) return stalled ? 'the state transfer stalled' : 'the members giving us the state are gone'
      this.provider = next
      this.total = -1
      this.chunks.clear()
      this.asked.clear()
      this.next = 0
      this.lastAsk = -Infinity
      this.heard = now
    }
    if (this.total < 0) {
      if (now - this.lastAsk >= retry) {
        this.lastAsk = now
        this.request(0, this.chunk)
      }
      return null
    }
    if (retryLost) {
      // Chunks asked for long ago and not here: lost, ask again (in runs).
      const late = [...this.asked].filter(([, at]) => now - at >= 2 * retry).map(([o]) => o).sort((x, y) => x - y)
      for (let i = 0; i < late.length; ) {
        let j = i
        while (j + 1 < late.length && late[j + 1] === late[j]! + this.chunk) j++
        for (let k = i; k <= j; k++) this.asked.set(late[k]!, now)
        this.request(late[i]!, (j - i + 1) * this.chunk)
        i = j + 1
      }
    }
    // Open the window: the next chunks never asked for.
    const window = Math.max(4, Math.min(STATE_WINDOW, Math.floor(STATE_WINDOW_BYTES / this.chunk)))
    const room = window - this.asked.size
    if (room < window / 4 || this.next >= this.total) return null
    const start = this.next
    let count = 0
    while (count < room && this.next < this.total) {
      this.asked.set(this.next, now)
      this.next += this.chunk
      count++
    }
    this.request(start, count * this.chunk)
    return null
  }

  /** A chunk came: the whole state once it is complete; 'more' to ask on; null if it was not ours. */
  onChunk(from: string, c: StateChunk): Uint8Array | 'more' | null {
    if (c.view !== this.view || from !== this.provider) return null
    if (this.total < 0) {
      this.total = c.total
      this.next = 0
    }
    if (c.total !== this.total || c.offset % this.chunk !== 0 || this.chunks.has(c.offset)) return null
    this.heard = this.host.now()
    if (c.offset < c.total) this.chunks.set(c.offset, c.bytes.slice())
    this.asked.delete(c.offset)
    if (c.offset === this.next && c.offset < c.total) this.next += this.chunk // the first chunk came unasked-for in the window
    if (this.chunks.size < Math.ceil(this.total / this.chunk)) return 'more'
    const state = new Uint8Array(this.total)
    for (const [at, bytes] of this.chunks) state.set(bytes, at)
    return state
  }

  private request(offset: number, length: number): void {
    this.host.send({ kind: 'stateRequest', view: this.view, offset, length }, this.provider)
  }
}
