// Member processes for tests: started with fork, ended by pid in every path.
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const defaultScript = fileURLToPath(new URL('./member.mjs', import.meta.url))

export class Member {
  constructor(group, name, options = {}, script = defaultScript) {
    this.name = name
    // (uvu sets FORCE_COLOR, our runner NO_COLOR: a child given both warns.)
    const { NO_COLOR, ...env } = process.env
    this.child = fork(script, [group, name, JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env })
    this.messages = []
    this.waiters = []
    this.exited = false
    this.child.on('message', (m) => {
      this.messages.push(m)
      if (m.type === 'joined') this.me = m.me
      if (m.type === 'view') this.view = m.members
      this.waiters = this.waiters.filter((w) => !w(m))
    })
    this.child.on('exit', (code, signal) => {
      this.exited = true
      // Nothing more will come: fail whoever waits, now rather than at their deadline.
      const m = { type: 'exit', code, signal }
      this.waiters = this.waiters.filter((w) => !w(m))
    })
  }

  /** Resolves with the first message (already received or future) that `match` accepts. */
  next(match, timeout = 10000, what = 'a message') {
    const found = this.messages.find(match)
    if (found) {
      this.messages.splice(this.messages.indexOf(found), 1)
      return Promise.resolve(found)
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: timed out waiting for ${what}`)), timeout)
      this.waiters.push((m) => {
        if (m.type === 'exit' && !match(m)) {
          clearTimeout(timer)
          reject(new Error(`${this.name}: exited (code ${m.code}, signal ${m.signal}) while waiting for ${what}`))
          return true
        }
        if (!match(m)) return false
        clearTimeout(timer)
        this.messages.splice(this.messages.indexOf(m), 1)
        resolve(m)
        return true
      })
    })
  }

  command(m) {
    this.child.send(m)
  }

  async report() {
    this.command({ cmd: 'report' })
    return this.next((m) => m.type === 'report', 10000, 'report')
  }

  signal(sig) {
    if (!this.exited) process.kill(this.child.pid, sig)
  }

  kill() {
    if (this.exited) return
    try {
      process.kill(this.child.pid, 'SIGCONT')
      process.kill(this.child.pid, 'SIGKILL')
    } catch {}
  }
}

/** Starts members and guarantees every one is killed when `body` ends, however it ends. */
export async function withMembers(group, specs, body, script = defaultScript) {
  const members = specs.map(([name, options]) => new Member(group, name, options, script))
  // Members the body starts later (add) are ended the same way.
  const add = (name, options) => {
    const m = new Member(group, name, options, script)
    members.push(m)
    return m
  }
  try {
    return await body(members.slice(), add)
  } finally {
    for (const m of members) m.kill()
  }
}
