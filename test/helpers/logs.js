// The checker's logs (ts/sim/checker.ts) built from what member processes
// stream over IPC (log-member.mjs: ['start'|'view'|'sent'|
// 'msg'|'state'|'merge', ...] entries), as the simulator keeps them for its
// members.
const MS = 1e6

/**
 * The checker's logs (one per incarnation), built from what each member
 * streamed. A sent key names its incarnation (`id/n`), so it is filed there
 * even when it arrives after a rejoin started the next incarnation's log.
 */
export class Logs {
  constructor() {
    this.byId = new Map()
    this.all = []
  }
  attach(member) {
    let current = null
    member.child.on('message', (m) => {
      if (m.type !== 'log') return
      for (const e of m.entries) {
        if (e[0] === 'start') {
          if (current) {
            current.end = 'excluded'
            current.endedNs = e[2] * MS
          }
          current = { id: e[1], startedNs: e[2] * MS, endedNs: null, end: 'running', views: [], delivered: [], sent: [], causalDeps: new Map(), merges: [], member }
          this.byId.set(e[1], current)
          this.all.push(current)
        } else if (e[0] === 'view') {
          current.views.push({ view: { id: e[2], members: e[3] }, founder: e[5] ?? '', atNs: e[4] * MS })
        } else if (e[0] === 'sent') {
          for (const key of e[1]) this.byId.get(key.split('/')[0]).sent.push(key)
          for (const [k, d] of Object.entries(e[2] ?? {})) this.byId.get(k.split('/')[0]).causalDeps.set(k, d)
        } else if (e[0] === 'msg') {
          current.delivered.push({ sender: e[1], key: e[2], order: e[3], view: e[4] })
        } else if (e[0] === 'merge') {
          current.merges.push({ view: e[2], sides: e[3], atNs: e[4] * MS })
        } else if (e[0] === 'state') {
          current.stateBytes = e[1]
          current.stateBad = e[2]
        }
      }
    })
    member.ended = (how) => {
      if (current) {
        current.end = how
        current.endedNs = Date.now() * MS
      }
    }
  }
  /** The member's latest incarnation. */
  of(member) {
    return this.all.filter((l) => l.member === member).at(-1)
  }
}
