// Membership as the members heard from: the native engine reports a peer when
// its first STATUS arrives and drops it when it leaves or stays silent for
// suspectTimeout. Each change is a new view, oldest member first.
//
// This is the spine's membership: views are local (two members may briefly
// disagree while a change propagates). Agreed views with the flush replace it
// (see docs/ARCHITECTURE.md, "What comes next").
import type { View } from '../message.js'

export class HeardMembership {
  private readonly members: string[] = []
  private viewId = 0
  private current: View | null = null

  get view(): View | null {
    return this.current
  }

  /** A member was heard for the first time: the next view has it. */
  add(id: string): View {
    if (!this.members.includes(id)) this.members.push(id)
    return this.install()
  }

  /** A member left or went silent. */
  remove(id: string): View | null {
    const i = this.members.indexOf(id)
    if (i < 0) return null
    this.members.splice(i, 1)
    return this.install()
  }

  private install(): View {
    const members = Object.freeze([...this.members])
    this.current = Object.freeze({ id: ++this.viewId, members, coordinator: members[0] ?? '' })
    return this.current
  }
}
