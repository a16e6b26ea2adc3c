// `troupe bench`: the parent. Starts one member process per --members (the
// hidden `troupe bench-member`), walks them through the phases over the fork
// IPC channel, and turns their reports into a table or one JSON object.
// It never loads the addon itself; every measurement is taken in a member.
//
// Every child it starts is killed by pid on every way out: normal end, a
// failed member, a deadline, an exception, SIGINT/SIGTERM/SIGHUP. Children run
// in their own process group (so a terminal's Ctrl-C reaches only the parent,
// which then reports and kills them) and exit by themselves if the IPC
// channel closes, which covers the parent being SIGKILLed.

import type { ChildProcess } from 'node:child_process'
import { randomBytes, randomInt } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { forkMember, killMembersOnExit, OUTPUT_TAIL } from './children.js'
import type { BenchConfig } from './options.js'
import { formatTable, type BenchResult, type ViewChangeTimes } from './report.js'
import { summarize } from './summary.js'
import { writeFileSync } from 'node:fs'
import { htmlReport } from './html.js'
import { Progress } from './progress.js'
import { formatCsv } from './rates.js'
import { loneSenderSkipsOwn } from './protocol.js'
import type { FinalReport, MemberArgs, PingReport, ReceiverReport, SenderReport, ToMember, ToParent } from './protocol.js'

/** The run failed in a way that makes its numbers meaningless: a member died, a phase missed its deadline. */
class BenchFailure extends Error {
  override name = 'BenchFailure'
  constructor(message: string, readonly culprits: Member[] = []) {
    super(message)
  }
}

/** The ping phase may take 30 s plus this much per ping before the run fails. */
const PING_BUDGET_MS = 50

export interface Member {
  index: number
  child: ChildProcess
  pid: number
  /** The last OUTPUT_TAIL characters of its stderr and stdout, interleaved. */
  output: string
  exited: { code: number | null; signal: NodeJS.Signals | null } | null
  joined?: Extract<ToParent, { t: 'joined' }>
  sent?: SenderReport
  delivered?: ReceiverReport
  pinged?: PingReport
  result?: FinalReport
  failed?: string
  /** Views installed after joining, with wall-clock times. */
  views: { id: number; members: string[]; atMs: number }[]
  leavingAtMs?: number
  /** Killed on purpose (the crash timing): its death is not a failure. */
  killedOnPurpose?: boolean
  /** What it reported of each rate phase (--rate, --rates), by phase. */
  phases: PhaseReports[]
}

export interface PhaseReports {
  ready?: boolean
  sent?: SenderReport
  delivered?: ReceiverReport
  pinged?: PingReport
}

/** How long a view change took, from the cause to the last member's install (ms). */
export async function runBench(config: BenchConfig): Promise<number> {
  const run = new Run(config)
  const release = killMembersOnExit(() => run.killAll())
  try {
    const result = await run.execute()
    if (config.json) process.stdout.write(`${JSON.stringify(result)}\n`)
    else if (config.csv) process.stdout.write(`${formatCsv(result.rates)}\n`)
    else process.stdout.write(`${formatTable(result)}\n`)
    if (config.json || config.csv) for (const p of result.problems) process.stderr.write(`troupe bench: ${p}\n`)
    if (config.report !== undefined) {
      writeFileSync(config.report, htmlReport(result))
      if (!config.json && !config.csv) process.stderr.write(`troupe bench: report written to ${config.report}\n`)
    }
    return result.ok ? 0 : 1
  } catch (err) {
    if (!(err instanceof BenchFailure)) throw err
    run.killAll()
    process.stderr.write(`troupe bench: FAILED: ${err.message}\n${run.outputs(err.culprits)}`)
    if (config.json) {
      process.stdout.write(`${JSON.stringify({ benchmark: 'troupe bench', ok: false, error: err.message, config: { ...config, key: config.key ? 'sealed' : undefined, group: run.group, seed: run.seed } })}\n`)
    }
    return 1
  } finally {
    run.killAll()
    release()
  }
}

class Run {
  readonly group = `bench-${randomBytes(4).toString('hex')}`
  readonly seed: number | undefined
  readonly members: Member[] = []
  private failure: BenchFailure | null = null
  private readonly waiters = new Set<() => void>()
  pinger = 0
  ponger = 1
  private readonly progress: Progress

  constructor(readonly config: BenchConfig) {
    this.progress = new Progress(!config.json && !config.csv, process.stderr, config.rates, config.warmup + config.seconds)
    const injecting = Boolean(config.loss || config.duplicate || config.reorder)
    this.seed = injecting ? (config.seed ?? randomInt(0, 2 ** 32)) : config.seed
  }

  async execute(): Promise<BenchResult> {
    const c = this.config
    const receivers = c.members - (loneSenderSkipsOwn(c) ? 1 : 0)
    this.log(
      `group ${this.group}: ${c.members} members (${c.senders} sending, ${receivers} receiving), ` +
        `${c.size} B, ${c.order}, ${c.seconds} s` + (this.seed !== undefined ? `, fault seed ${this.seed} (+ member index)` : ''),
    )
    const started = performance.now()
    for (let i = 0; i < c.members; i++) this.start(i)

    // Join: every member reports once its view holds all of them. The member
    // enforces --join-timeout itself and says who it sees; ours covers startup.
    await this.until(() => this.members.every((m) => m.joined), c.joinTimeout * 1000 + 15_000, () => `members ${this.missing((m) => !m.joined)} to join`)
    this.checkViews()
    const v = this.members[0]!.joined!.view
    this.log(`view ${v.id} of ${v.members.length} formed ${((performance.now() - started) / 1000).toFixed(1)} s after start; ` + (c.rates.length ? `${c.rates.length} rate phases of ${c.warmup} + ${c.seconds} s` : `sending for ${c.seconds} s`))

    if (c.rates.length > 0) await this.ratePhases()
    else await this.saturate()
    return this.finish()
  }

  /** Data: senders send for --seconds as fast as they can, then END; receivers deliver up to every END's count. */
  private async saturate(): Promise<void> {
    const c = this.config
    this.broadcast({ t: 'go' })
    const senders = this.members.slice(0, c.senders)
    await this.until(
      () => senders.every((m) => m.sent),
      (c.seconds + c.drainTimeout + 10) * 1000,
      () => `senders ${this.missing((m) => m.index < c.senders && !m.sent)} to finish sending (blocked waiting for 'drain'?)`,
    )
    const receiving = this.receiving()
    try {
      await this.until(() => receiving.every((m) => m.delivered), c.drainTimeout * 1000, () => '')
    } catch (err) {
      if (!(err instanceof BenchFailure) || this.failure) throw err
      const late = receiving.filter((m) => !m.delivered)
      this.log(`receivers ${late.map((m) => m.index).join(', ')} still miss messages ${c.drainTimeout} s after the senders stopped; asking for what they have`)
      for (const m of late) this.tell(m, { t: 'report' })
      await this.until(() => receiving.every((m) => m.delivered), 10_000, () => `receivers ${this.missing((m) => receiving.includes(m) && !m.delivered)} to report`)
    }

    // Round trip, unloaded: everything above has been delivered by now.
    if (c.pings > 0) {
      // Under total and safe order the pair leaves out the sequencer (the
      // view's coordinator) when it can: the round trip of an ordinary sender.
      const sequenced = c.order === 'total' || c.order === 'safe'
      const coordinator = this.members[0]!.joined!.view.coordinator
      const pair = sequenced && c.members >= 3 ? this.members.filter((m) => m.joined!.me !== coordinator).slice(0, 2) : this.members.slice(0, 2)
      this.pinger = pair[0]!.index
      this.ponger = pair[1]!.index
      this.log(`data phase over; ${c.pings} sequential pings ${this.pinger} -> ${this.ponger} -> ${this.pinger}`)
      await sleep(100)
      this.tell(pair[0]!, { t: 'ping', count: c.pings, to: this.ponger })
      await this.until(() => Boolean(pair[0]!.pinged), 30_000 + c.pings * PING_BUDGET_MS, () => `member ${this.pinger} to finish its ${c.pings} pings (a stalled group answers none; ${PING_BUDGET_MS} ms a ping is allowed on average)`)
    }

  }

  /** One phase per rate: senders paced, receivers timing every message, member 0 pinging member 1 meanwhile. */
  private async ratePhases(): Promise<void> {
    const c = this.config
    const receiving = this.receiving()
    for (let phase = 0; phase < c.rates.length; phase++) {
      const rate = c.rates[phase]!
      const pings = Math.floor(c.pingRate * c.seconds)
      const of = (m: Member): PhaseReports => m.phases[phase] ?? {}
      this.broadcast({ t: 'rate', phase, rate, warmup: c.warmup, seconds: c.seconds, pings, pingRate: c.pingRate, ponger: 1 })
      await this.until(() => this.members.every((m) => of(m).ready), 10_000, () => `members ${this.missing((m) => !of(m).ready)} to get ready for phase ${phase}`)
      // Every process reads one CLOCK_MONOTONIC: the phase starts 20 ms from now for all of them.
      this.progress.phase(phase, rate)
      this.broadcast({ t: 'start', phase, t0: Number(process.hrtime.bigint()) + 20e6 })
      const senders = this.members.slice(0, c.senders)
      await this.until(
        () => senders.every((m) => of(m).sent),
        (c.warmup + c.seconds + c.drainTimeout + 10) * 1000,
        () => `senders ${this.missing((m) => m.index < c.senders && !of(m).sent)} to finish phase ${phase} (${rate} msgs/s)`,
      )
      await this.until(() => receiving.every((m) => of(m).delivered), c.drainTimeout * 1000, () => `receivers ${this.missing((m) => receiving.includes(m) && !of(m).delivered)} to deliver phase ${phase}`)
      if (pings > 0) await this.until(() => Boolean(of(this.members[0]!).pinged), 30_000 + pings * PING_BUDGET_MS, () => `member 0 to finish the pings of phase ${phase}`)
      this.progress.done(phase, this.members)
      await sleep(100) // (what is left of the phase's acks and STATUS settles)
    }
    this.progress.end()
  }

  private receiving(): Member[] {
    const c = this.config
    return this.members.filter((m) => m.index >= c.senders || !loneSenderSkipsOwn(c))
  }

  private async finish(): Promise<BenchResult> {
    const c = this.config
    const viewChange = !c.noViewChanges && c.members >= 3 ? await this.viewChanges() : null

    this.broadcast({ t: 'finish' })
    await this.until(() => this.members.every((m) => m.result || m.killedOnPurpose), 10_000, () => `members ${this.missing((m) => !m.result && !m.killedOnPurpose)} to send their counters`)
    // Members leave and exit; one that hangs in leave() is killed on the way out.
    await this.until(() => this.members.every((m) => m.exited), 6_000, () => '').catch(() => {})
    const late = this.members.filter((m) => !m.exited)
    return summarize(this, viewChange, [
      ...(this.failure ? [`after the run: ${this.failure.message}`] : []),
      ...(late.length ? [`members ${late.map((m) => m.index).join(', ')} had not exited 6 s after the run (leave() hung?); killed`] : []),
    ])
  }

  /**
   * The last phase: a member joins, then leaves, then one is SIGKILLed; each
   * time, from the cause to the last member's install of the new view.
   */
  private async viewChanges(): Promise<ViewChangeTimes> {
    const c = this.config
    const old = this.members.slice()
    const lastInstall = (ms: Member[], pred: (members: string[]) => boolean): number | null => {
      let last = 0
      for (const m of ms) {
        const v = m.views.find((x) => pred(x.members))
        if (!v) return null
        last = Math.max(last, v.atMs)
      }
      return last
    }
    const deadline = (c.joinTimeout + 10) * 1000
    // Join.
    this.log('view changes: a member joins, leaves, and one is killed')
    const joiner = this.start(old.length, true)
    await this.until(() => Boolean(joiner.joined), deadline, () => 'the extra member to join')
    const id = joiner.joined!.me
    let joinedAt: number | null = null
    await this.until(() => (joinedAt = lastInstall(old, (ms) => ms.includes(id))) !== null, deadline, () => 'every member to see the joiner')
    const joinMs = Math.max(joinedAt!, joiner.joined!.joinStartedAtMs + joiner.joined!.joinMs) - joiner.joined!.joinStartedAtMs
    // Leave.
    this.tell(joiner, { t: 'leave' })
    await this.until(() => joiner.leavingAtMs !== undefined, deadline, () => 'the extra member to start leaving')
    let leftAt: number | null = null
    const afterLeave = (ms: string[]) => !ms.includes(id) && ms.length === old.length
    await this.until(() => (leftAt = lastInstall(old, (ms) => afterLeave(ms) && true)) !== null && old.every((m) => m.views.some((v) => v.atMs >= joiner.leavingAtMs! && afterLeave(v.members))), deadline, () => 'every member to see the leave')
    const leaveMs = Math.max(...old.map((m) => m.views.find((v) => v.atMs >= joiner.leavingAtMs! && afterLeave(v.members))!.atMs)) - joiner.leavingAtMs!
    void leftAt
    // Crash: the last member (never member 0 or 1, which ping).
    const victim = old[old.length - 1]!
    const victimId = victim.joined!.me
    const survivors = old.filter((m) => m !== victim)
    victim.killedOnPurpose = true
    const killedAt = performance.timeOrigin + performance.now()
    process.kill(victim.pid, 'SIGKILL')
    const without = (m: Member) => m.views.find((v) => v.atMs >= killedAt && !v.members.includes(victimId))
    await this.until(() => survivors.every((m) => without(m)), deadline + 2 * (c.join.suspectTimeout ?? 1000), () => 'every survivor to install a view without the killed member')
    const crashMs = Math.max(...survivors.map((m) => without(m)!.atMs)) - killedAt
    const r = (x: number) => Math.round(x * 10) / 10
    this.log(`view changes: join ${r(joinMs)} ms, leave ${r(leaveMs)} ms, crash ${r(crashMs)} ms`)
    return { joinMs: r(joinMs), leaveMs: r(leaveMs), crashMs: r(crashMs), suspectTimeoutMs: c.join.suspectTimeout ?? 1000 }
  }

  private start(index: number, extra = false): Member {
    const args: MemberArgs = {
      index,
      group: this.group,
      seed: this.seed === undefined ? undefined : (this.seed + index) % 2 ** 32,
      config: this.config,
      ...(extra ? { extra } : {}),
    }
    const child = forkMember('bench-member', args, (text) => {
      m.output = (m.output + text).slice(-OUTPUT_TAIL)
    })
    const m: Member = { index, child, pid: child.pid ?? -1, output: '', exited: null, views: [], phases: [] }
    this.members.push(m)
    child.on('message', (msg: ToParent) => {
      switch (msg.t) {
        case 'joined': m.joined = msg; break
        case 'ready': (m.phases[msg.phase] ??= {}).ready = true; break
        case 'sent':
        case 'delivered':
        case 'pinged':
          if (msg.phase === undefined) m[msg.t] = msg.report as never
          else (m.phases[msg.phase] ??= {})[msg.t] = msg.report as never
          break
        case 'result': m.result = msg.report; break
        case 'view': m.views.push(msg); break
        case 'leaving': m.leavingAtMs = msg.atMs; break
        case 'failed':
          m.failed = msg.message
          this.fail(new BenchFailure(`member ${index} (pid ${m.pid}) failed: ${msg.message}`, [m]))
          break
      }
      this.notify()
    })
    child.on('error', (err) => this.fail(new BenchFailure(`member ${index}: ${err.message}`, [m])))
    child.on('exit', (code, signal) => {
      m.exited = { code, signal }
      if (m.killedOnPurpose) {
        this.notify()
        return
      }
      if (code !== 0 || !m.result) {
        const how = signal ? `was killed by ${signal}` : `exited with status ${code}`
        this.fail(new BenchFailure(`member ${index} (pid ${m.pid}) ${how}${m.failed ? `: ${m.failed}` : m.result ? '' : ' before the run ended'}`, [m]))
      }
      this.notify()
    })
    return m
  }

  /** Kills every member still running, by pid; safe to call any number of times. */
  killAll(): void {
    for (const m of this.members) {
      if (m.exited || m.pid <= 0) continue
      try {
        process.kill(m.pid, 'SIGKILL')
      } catch {
        // Already gone.
      }
    }
  }

  outputs(culprits: Member[]): string {
    const shown = culprits.length > 0 ? culprits : this.members.filter((m) => m.output.trim() !== '')
    return shown
      .map((m) => `--- member ${m.index} (pid ${m.pid}) output ---\n${m.output.trim() === '' ? '(none)' : m.output.trimEnd()}\n`)
      .join('')
  }

  private tell(m: Member, msg: ToMember): void {
    if (m.child.connected) m.child.send(msg)
  }

  private broadcast(msg: ToMember): void {
    for (const m of this.members) this.tell(m, msg)
  }

  private fail(err: BenchFailure): void {
    this.failure ??= err
    this.notify()
  }

  private notify(): void {
    for (const w of [...this.waiters]) w()
  }

  /** Resolves when done() holds; rejects on a member's failure or after ms, saying what was awaited. */
  private until(done: () => boolean, ms: number, what: () => string): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (err?: Error): void => {
        clearTimeout(timer)
        this.waiters.delete(probe)
        if (err) reject(err)
        else resolve()
      }
      const probe = (): void => {
        if (this.failure) finish(this.failure)
        else if (done()) finish()
      }
      const timer = setTimeout(() => finish(new BenchFailure(`timed out after ${ms / 1000} s waiting for ${what()}`)), ms)
      this.waiters.add(probe)
      probe()
    })
  }

  private missing(pred: (m: Member) => boolean): string {
    return this.members.filter(pred).map((m) => m.index).join(', ')
  }

  /** Virtual synchrony's first promise, checked where we can: same view id, same members. */
  private checkViews(): void {
    const byId = new Map<number, string>()
    for (const m of this.members) {
      const v = m.joined!.view
      const members = [...v.members].sort().join(',')
      const seen = byId.get(v.id)
      if (seen !== undefined && seen !== members) {
        throw new BenchFailure(`members disagree on view ${v.id}: member ${m.index} has ${members}, another has ${seen}`)
      }
      byId.set(v.id, members)
    }
  }

  private log(line: string): void {
    if (!this.config.json && !this.config.csv) process.stderr.write(`troupe bench: ${line}\n`)
  }
}

