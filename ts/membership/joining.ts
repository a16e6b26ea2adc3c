// The joiner's role, until its first view (gms.ts drops it then): it asks to
// join every retry interval; if nobody answers for the discovery time, and no
// lower joiner is heard, it starts the group itself (tick() says so). Never
// while anyone but joiners is heard: a group is there (its coordinator may
// have just died; the next one will answer).
import type { GmsConfig, GmsHost } from './gms.js'

export class Joining {
  private readonly started: number
  private lastJoinSent = -Infinity
  private announceHeardAt = -Infinity
  private readonly joinersHeard = new Map<string, number>() // other joiners (bootstrap), last heard

  constructor(private readonly host: GmsHost, private readonly config: GmsConfig) {
    this.started = host.now()
  }

  heardJoiner(member: string): void {
    this.joinersHeard.set(member, this.host.now())
  }

  /** A group's coordinator announced its view: a group is there. */
  heardAnnounce(): void {
    this.announceHeardAt = this.host.now()
  }

  /** Asks to join (again); true when this member should start the group itself. */
  tick(): boolean {
    const now = this.host.now()
    const me = this.host.me
    if (now - this.lastJoinSent >= this.config.retry) {
      this.lastJoinSent = now
      this.host.send({ kind: 'join', member: me }, null)
    }
    if (now - this.started < this.config.discovery || now - this.announceHeardAt < this.config.discovery) return false
    for (const other of this.host.heard()) {
      if (other === me) continue
      const at = this.joinersHeard.get(other)
      if (at === undefined || now - at >= this.config.discovery || other < me) return false
    }
    for (const [other, at] of this.joinersHeard) {
      if (now - at < this.config.discovery && other < me) return false
    }
    return true
  }
}
