// The invariants of virtual synchrony, checked over what each incarnation
// logged (views installed, messages delivered, messages sent). The same
// checks run over the delivery logs of real member processes (test/).
//
//   views agree             same view id => same members
//   same set per view       two members that install view v and the same next
//                           view delivered the same messages in v
//   no duplicate, none invented, FIFO per sender (no gaps, no reordering)
//   one total order       members that go through a view together deliver its total and safe messages in one order
//   safe                  a safe message delivered by anyone in v is delivered in v by all that go on
//   causal                a causal message comes after the causal messages its sender had delivered
//   sync                  every member delivers the same messages of the view before each sync message
//   own messages            a member that ends the run in the group delivered
//                           every message it sent
//   detection               after a crash, members that stay install a view
//                           without the crashed member within `detectionNs`
//   one final view          members alive at the end share one view
//   state                   members of the final view agree on the replicated state
//   blocks                  members that install a view hold the same lock queues and
//                           counter there, and no lock of a member not in it
//                           (the building blocks' machines, sim/blocks.ts); and
//                           one map at the end, sides merged or not
const ORDERED = new Set(['fifo', 'causal', 'total', 'safe', 'sync'])

export interface LoggedView {
  readonly id: number
  readonly members: readonly string[]
}

export interface Log {
  id: string
  startedNs: number
  endedNs: number | null
  end: 'running' | 'crashed' | 'excluded' | 'left'
  /** `founder`: the member that started the line of views (view ids count within one line). */
  views: { view: LoggedView; founder: string; atNs: number }[]
  delivered: { sender: string; key: string; order: string; view: number }[]
  sent: string[]
  /** Causal messages sent: what they depend on (the last causal message delivered from each sender). */
  causalDeps?: Map<string, string[]>
  finalState?: number | string
  /** The building blocks' map at the end (reconciled when sides merge, so one in every mode). */
  finalMap?: string
  /** The building blocks' state as each view was installed (sim/blocks.ts digest). */
  blockViews?: { view: number; founder: string; digest: string; strangers: string[] }[]
}

export interface CheckOptions {
  /** Crashes to check detection for: incarnation id and when. */
  crashes: { id: string; atNs: number }[]
  detectionNs: number
  /** Time windows in which partitions or heavy faults excuse slow detection. */
  excused: { fromNs: number; toNs: number }[]
  endNs: number
  /** Check that the members alive at the end share one view and one state. */
  settled: boolean
  /** Check the replicated state too (not where sides merge: each keeps its own). */
  oneState?: boolean
}

export function checkInvariants(logs: readonly Log[], o: CheckOptions): string[] {
  const errors: string[] = []
  const fail = (m: string) => {
    if (errors.length < 20) errors.push(m)
  }

  // Views agree.
  const views = new Map<string, string>()
  for (const l of logs) {
    for (const { view, founder } of l.views) {
      const members = view.members.join(',')
      const key = `${founder}:${view.id}`
      const known = views.get(key)
      if (known === undefined) views.set(key, members)
      else if (known !== members) fail(`view ${view.id} (line of ${founder}) differs: [${known}] at some, [${members}] at ${l.id}`)
    }
  }

  const causalKeys = new Set<string>()
  for (const l of logs) for (const k of l.causalDeps?.keys() ?? []) causalKeys.add(k)

  // Per incarnation: view sequence, sets per view, duplicates, FIFO.
  const sentBy = new Map<string, Set<string>>()
  for (const l of logs) sentBy.set(l.id, new Set(l.sent))
  const setIn = new Map<string, Map<number, string[]>>() // incarnation -> view -> keys
  for (const l of logs) {
    const perView = new Map<number, string[]>()
    setIn.set(l.id, perView)
    let last = 0
    for (const { view } of l.views) {
      if (view.id <= last) fail(`${l.id} installed view ${view.id} after ${last}`)
      last = view.id
      if (!view.members.includes(l.id)) fail(`${l.id} installed view ${view.id} without itself`)
    }
    const seen = new Set<string>()
    const lastCount = new Map<string, number>()
    const countsFrom = new Map<string, number[]>() // by sender and epoch
    const lastFifoIn = new Map<string, number>()
    // A sender's epoch at this member grows each time a view brings it back
    // in (a merge after a partition): what it sent while apart went to the
    // other side only, so a gap across epochs is no loss.
    const epochOf = new Map<number, Map<string, number>>()
    {
      const epoch = new Map<string, number>()
      let previous: readonly string[] = []
      for (const { view } of l.views) {
        for (const m of view.members) if (!previous.includes(m)) epoch.set(m, (epoch.get(m) ?? 0) + 1)
        epochOf.set(view.id, new Map(epoch))
        previous = view.members
      }
    }
    for (const d of l.delivered) {
      if (seen.has(d.key)) fail(`${l.id} delivered ${d.key} twice`)
      seen.add(d.key)
      const [origin, countText] = d.key.split('/')
      if (origin !== d.sender || !sentBy.get(d.sender)?.has(d.key)) fail(`${l.id} delivered ${d.key} from ${d.sender}, which nobody sent`)
      const count = Number(countText)
      if (ORDERED.has(d.order)) {
        // FIFO per sender holds across the ordered kinds.
        const prev = lastCount.get(d.sender)
        if (prev !== undefined && count <= prev) fail(`${l.id}: FIFO broken for ${d.sender}: ${prev} then ${count}`)
        lastCount.set(d.sender, count)
      }
      const group = `${d.sender} ${epochOf.get(d.view)?.get(d.sender) ?? 0}`
      let counts = countsFrom.get(group)
      if (!counts) countsFrom.set(group, (counts = []))
      counts.push(count)
      if (ORDERED.has(d.order)) lastFifoIn.set(group, count)
      const inView = l.views.find((v) => v.view.id === d.view)
      if (!inView) fail(`${l.id} delivered ${d.key} outside any view (view ${d.view})`)
      else if (!inView.view.members.includes(d.sender)) fail(`${l.id} delivered ${d.key} in view ${d.view}, whose members do not include ${d.sender}`)
      let keys = perView.get(d.view)
      if (!keys) perView.set(d.view, (keys = []))
      keys.push(d.key)
    }
    // Reliable: no FIFO message is delivered while an earlier message of its
    // sender is missing. (An unordered message may go ahead of a gap; if the
    // member is then cut off, the gap stays. A causal message whose
    // dependencies were lost with a crashed member, or stayed on the other
    // side of a partition, is dropped alike by everyone who could not have it.)
    const causalSent = (sender: string, n: number) => causalKeys.has(`${sender}/${n}`)
    for (const [group, counts] of countsFrom) {
      const sender = group.split(' ')[0]!
      counts.sort((a, b) => a - b)
      const lastFifo = lastFifoIn.get(group) ?? -1
      for (let i = 1; i < counts.length; i++) {
        let onlyCausal = true
        for (let n = counts[i - 1]! + 1; n < counts[i]! && onlyCausal; n++) onlyCausal = causalSent(sender, n)
        if (counts[i] !== counts[i - 1]! + 1 && lastFifo > counts[i - 1]! && !onlyCausal) {
          fail(`${l.id} missed messages of ${sender}: ${counts[i - 1]} then ${counts[i]}`)
          break
        }
      }
    }
  }

  // One total order: members that install a view and the same next one (or
  // stay in it to the end) deliver its total messages in the same order.
  const orderIn = new Map<string, { id: string; keys: string[] }>()
  for (const l of logs) {
    for (let i = 0; i < l.views.length; i++) {
      const v = l.views[i]!, w = l.views[i + 1]
      const group = `${v.founder}:${v.view.id}->${w ? `${w.founder}:${w.view.id}` : l.end === 'running' ? 'end' : `gone:${l.id}`}`
      const keys = l.delivered.filter((d) => d.view === v.view.id && (d.order === 'total' || d.order === 'safe')).map((d) => d.key)
      const first = orderIn.get(group)
      if (!first) {
        orderIn.set(group, { id: l.id, keys })
        continue
      }
      const index = new Map(first.keys.map((k, n) => [k, n]))
      let last = -1
      let lastKey = ''
      for (const k of keys) {
        const n = index.get(k)
        if (n === undefined) continue
        if (n < last) {
          fail(`total order differs in view ${v.view.id}: ${first.id} delivered ${k} before ${lastKey}, ${l.id} after`)
          break
        }
        last = n
        lastKey = k
      }
    }
  }

  // Safe: a safe message delivered by any member in view v (crashed or not)
  // is delivered in v by every member that installs v and a next view. (With
  // partitions: 'merge' the sides install different next views; a member
  // that went on binds the members that went on with it.)
  const successor = (l: Log, i: number) => (i + 1 < l.views.length ? `${l.views[i + 1]!.founder}:${l.views[i + 1]!.view.id}` : null)
  const safeIn = new Map<string, Map<string, string | null>>() // view -> safe key -> successor of who delivered it (null: none)
  for (const l of logs) {
    for (const d of l.delivered) {
      if (d.order !== 'safe') continue
      const i = l.views.findIndex((x) => x.view.id === d.view)
      if (i < 0) continue
      const key = `${l.views[i]!.founder}:${d.view}`
      let m = safeIn.get(key)
      if (!m) safeIn.set(key, (m = new Map()))
      const next = successor(l, i)
      if (!m.has(d.key) || next === null) m.set(d.key, next)
    }
  }
  for (const l of logs) {
    for (let i = 0; i + 1 < l.views.length; i++) {
      const v = l.views[i]!
      const want = safeIn.get(`${v.founder}:${v.view.id}`)
      if (!want) continue
      const next = successor(l, i)
      const got = new Set(l.delivered.filter((d) => d.view === v.view.id).map((d) => d.key))
      const missing = [...want].filter(([k, w]) => (w === null || w === next) && !got.has(k))
      if (missing.length) fail(`${l.id} went on from view ${v.view.id} without the safe message ${missing[0]![0]} another member delivered in it`)
    }
  }

  // Sync: members that deliver a sync message in view v (and go on to the
  // same next view) delivered the same messages of v before it.
  const before = new Map<string, { id: string; keys: string }>()
  for (const l of logs) {
    const inView = new Map<number, string[]>()
    for (const d of l.delivered) {
      let keys = inView.get(d.view)
      if (!keys) inView.set(d.view, (keys = []))
      if (d.order === 'sync') {
        // (Compared among members that go on to the same next view: sides of a partition end a view apart.)
        const i = l.views.findIndex((x) => x.view.id === d.view)
        const v = l.views[i]
        const next = l.views[i + 1]
        const group = `${v?.founder}:${d.view}:${d.key}->${next ? `${next.founder}:${next.view.id}` : l.end === 'running' ? 'end' : `gone:${l.id}`}`
        const set = [...keys].sort().join(' ')
        const first = before.get(group)
        if (!first) before.set(group, { id: l.id, keys: set })
        else if (first.keys !== set) fail(`sync ${d.key}: ${first.id} and ${l.id} delivered different messages before it in view ${d.view}`)
      }
      keys.push(d.key)
    }
  }

  // Causal: a member delivers a causal message only after the causal messages
  // its sender had delivered before sending it (those the member delivers).
  const depsOf = new Map<string, string[]>()
  for (const l of logs) for (const [k, d] of l.causalDeps ?? []) depsOf.set(k, d)
  for (const l of logs) {
    const at = new Map(l.delivered.map((d, i) => [d.key, i]))
    for (const [i, d] of l.delivered.entries()) {
      if (d.order !== 'causal') continue
      for (const dep of depsOf.get(d.key) ?? []) {
        const j = at.get(dep)
        if (j !== undefined && j > i) {
          fail(`${l.id} delivered causal ${d.key} before ${dep}, which its sender had delivered first`)
          break
        }
      }
    }
  }

  // Same set in v for members that install v and the same next view.
  const byViewPair = new Map<string, { id: string; keys: string }>()
  for (const l of logs) {
    for (let i = 0; i + 1 < l.views.length; i++) {
      const v = l.views[i]!, w = l.views[i + 1]!
      const keys = [...(setIn.get(l.id)!.get(v.view.id) ?? [])].sort().join(' ')
      const pair = `${v.founder}:${v.view.id}->${w.founder}:${w.view.id}`
      const first = byViewPair.get(pair)
      if (!first) byViewPair.set(pair, { id: l.id, keys })
      else if (first.keys !== keys) {
        const a = new Set(first.keys.split(' ')), b = new Set(keys.split(' '))
        const onlyA = [...a].filter((k) => k && !b.has(k)).slice(0, 3)
        const onlyB = [...b].filter((k) => k && !a.has(k)).slice(0, 3)
        fail(`view ${v.view.id}->${w.view.id}: ${first.id} and ${l.id} delivered different sets in ${v.view.id} (only first: ${onlyA.join(' ')}; only second: ${onlyB.join(' ')})`)
      }
    }
  }

  // Own messages, for members that end the run in the group.
  if (o.settled) {
    for (const l of logs) {
      if (l.end !== 'running' || l.views.length === 0) continue
      const got = new Set(l.delivered.map((d) => d.key))
      const missing = l.sent.filter((k) => !got.has(k))
      if (missing.length) fail(`${l.id} never delivered ${missing.length} of its own messages (first ${missing[0]})`)
    }
  }

  // Detection: members alive through the window install a view without the crashed one.
  for (const c of o.crashes) {
    // A crash detected while an earlier one is still being handled waits for
    // it: the deadline runs from the last crash of such a chain.
    let deadline = c.atNs + o.detectionNs
    for (const d of [...o.crashes].sort((a, b) => a.atNs - b.atNs)) {
      if (d.atNs > c.atNs && d.atNs < deadline) deadline = Math.max(deadline, d.atNs + o.detectionNs)
    }
    if (deadline > o.endNs) continue
    if (o.excused.some((e) => e.fromNs < deadline && e.toNs > c.atNs)) continue
    for (const l of logs) {
      if (l.id === c.id || l.startedNs > c.atNs || (l.endedNs !== null && l.endedNs < deadline)) continue
      const at = [...l.views].reverse().find((v) => v.atNs <= c.atNs)
      if (!at || !at.view.members.includes(c.id)) continue
      const without = l.views.find((v) => v.atNs > c.atNs && !v.view.members.includes(c.id))
      if (!without || without.atNs > deadline) {
        fail(`${l.id} had no view without ${c.id} within ${((deadline - c.atNs) / 1e6).toFixed(0)} ms of its crash${without ? ` (took ${((without.atNs - c.atNs) / 1e6).toFixed(0)} ms)` : ''}`)
      }
    }
  }

  // The blocks' state at each view: one per view (not where sides merge: each keeps its own).
  if (o.oneState !== false) {
    const atView = new Map<string, { id: string; digest: string }>()
    for (const l of logs) {
      for (const b of l.blockViews ?? []) {
        if (b.strangers.length) fail(`view ${b.view}: ${l.id} still has ${b.strangers.join(', ')} in its lock queues, not in the view`)
        const k = `${b.founder}/${b.view}`
        const first = atView.get(k)
        if (!first) atView.set(k, { id: l.id, digest: b.digest })
        else if (first.digest !== b.digest) fail(`view ${b.view}: ${first.id} holds blocks [${first.digest}], ${l.id} holds [${b.digest}]`)
      }
    }
  }

  // One final view and one state among the members alive at the end.
  if (o.settled) {
    const alive = logs.filter((l) => l.end === 'running')
    const finals = new Set(alive.map((l) => (l.views.length ? l.views[l.views.length - 1]!.view.id : -1)))
    if (finals.size > 1) fail(`members alive at the end are in different views: ${[...finals].join(', ')}`)
    const final = alive[0]?.views.at(-1)?.view
    if (final && final.members.length !== alive.length) fail(`the final view has ${final.members.length} members, ${alive.length} are alive`)
    // Settled: the final view's messages are the same everywhere too.
    const finalSets = new Map<string, string>()
    for (const l of alive) {
      const last = l.views.at(-1)
      if (!last) continue
      finalSets.set(l.id, [...(setIn.get(l.id)!.get(last.view.id) ?? [])].sort().join(' '))
    }
    if (new Set(finalSets.values()).size > 1) fail(`members of the final view delivered different sets in it`)
    const states = new Set(alive.filter((l) => l.finalState !== undefined && o.oneState !== false).map((l) => l.finalState))
    if (states.size > 1) fail(`members of the final view disagree on the replicated state: ${[...states].join(', ')}`)
    const maps = new Set(alive.filter((l) => l.finalMap !== undefined).map((l) => l.finalMap))
    if (maps.size > 1) fail(`members of the final view hold different maps (merges reconciled?): ${[...maps].join(' / ')}`)
  }
  return errors
}
