// transport 'auto': multicast where it works, unicast where it does not, per
// member. The engine sends every STATUS by unicast as well to each member it
// knows of, and tracks, per address, when that member's multicast last
// reached us (lags().multicastSilentMs). This decides, sans-IO, from those
// numbers: a member we hear (by unicast, then) whose multicast has not
// reached us for fallbackTimeout is asked to send us the group's datagrams
// by unicast too (a 'via' membership message); once its multicast has been
// coming again for as long, it is asked to stop. The member asked does so
// in its engine (setUnicast). Asks are sent again every few seconds
// (CONTROL is unreliable, and the asked one may have restarted).

export interface FallbackPeer {
  id: string // 16 hex digits
  silentMs: number
  multicastSilentMs: number // -1: never
}

export interface FallbackHost {
  peers(): FallbackPeer[]
  /** Since our own multicast last came back to us (ms; -1: never). */
  selfSilentMs(): number
  /** Our own incarnation (16 hex digits). */
  readonly self: string
  /** Asks member `hex` to send to us by unicast (true) or not (false). */
  ask(hex: string, unicast: boolean): void
  /** Has the engine send to member `hex` by unicast too, or no longer. */
  setUnicast(hex: string, on: boolean): void
  /** A route changed: `member` reaches us ('in') or we reach it ('out') by unicast, or by multicast again. */
  route(hex: string, direction: 'in' | 'out', unicast: boolean): void
  now(): number
}

const ASK_AGAIN_MS = 2000

export class Fallback {
  private readonly asked = new Map<string, { unicast: boolean; at: number }>() // what we asked of each member
  private readonly serving = new Set<string>() // members we send to by unicast (they asked)
  private nextAt = 0
  /** Our own datagrams come back to us by unicast (our multicast does not). */
  ownByUnicast = false

  constructor(private readonly host: FallbackHost, private readonly timeoutMs: number, private readonly suspectMs: number) {}

  /** Members that send to us by unicast (we asked), and members we send to by unicast (they asked). */
  get routes(): { unicastIn: string[]; unicastOut: string[] } {
    return { unicastIn: [...this.asked].filter(([, a]) => a.unicast).map(([id]) => id), unicastOut: [...this.serving] }
  }

  tick(): void {
    const now = this.host.now()
    if (now < this.nextAt) return
    this.nextAt = now + Math.min(250, this.timeoutMs / 4)
    const seen = new Set<string>()
    for (const p of this.host.peers()) {
      seen.add(p.id)
      const before = this.asked.get(p.id)
      const silent = p.multicastSilentMs < 0 ? Infinity : p.multicastSilentMs
      // Heard lately (by unicast, if its multicast is silent); with hysteresis.
      const heard = p.silentMs < this.suspectMs / 2
      let unicast = before?.unicast ?? false
      if (heard && silent > this.timeoutMs) unicast = true
      else if (silent < this.timeoutMs / 4) unicast = false
      if (unicast === (before?.unicast ?? false) && (!unicast || now - before!.at < ASK_AGAIN_MS)) continue
      this.asked.set(p.id, { unicast, at: now })
      this.host.ask(p.id, unicast)
      if (unicast !== (before?.unicast ?? false)) this.host.route(p.id, 'in', unicast)
    }
    for (const id of [...this.asked.keys()]) if (!seen.has(id)) this.asked.delete(id) // (gone)
    // A member gone from the engine (left, or forgotten at a view change) is no longer
    // sent to by unicast there; if it comes back (a minority side healing), it asks again.
    for (const id of [...this.serving]) {
      if (seen.has(id)) continue
      this.serving.delete(id)
      this.host.route(id, 'out', false)
    }
    // Our own datagrams come back by multicast's loop; where netfilter stops
    // that (our multicast goes nowhere, or none comes in), by unicast to ourselves.
    const own = this.host.selfSilentMs()
    const silent = own < 0 ? Infinity : own
    const unicast = silent > this.timeoutMs ? true : silent < this.timeoutMs / 4 ? false : this.ownByUnicast
    if (unicast !== this.ownByUnicast) {
      this.ownByUnicast = unicast
      this.host.setUnicast(this.host.self, unicast)
    }
  }

  /**
   * Member `hex` asks us to send to it by unicast too (or no longer). Asked
   * again (every ASK_AGAIN_MS), the engine is told again: it may have
   * forgotten that member in between (a view change) and heard it again.
   */
  onAsk(hex: string, unicast: boolean): void {
    this.host.setUnicast(hex, unicast)
    if (unicast === this.serving.has(hex)) return
    if (unicast) this.serving.add(hex)
    else this.serving.delete(hex)
    this.host.route(hex, 'out', unicast)
  }
}
