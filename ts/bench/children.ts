// What `troupe bench` (run.ts), `--transfer` (transfer.ts) and `--app` (app.ts) do
// alike with their member processes: start each in its own process group (so
// a terminal's Ctrl-C reaches only the parent, which then reports and kills
// them), keep the tail of its output, and kill every one still running on
// every way out, a signal to the parent included.
import { fork, type ChildProcess } from 'node:child_process'
import os from 'node:os'
import { fileURLToPath } from 'node:url'

/** How much of a member's stdout and stderr is kept (the last characters, interleaved). */
export const OUTPUT_TAIL = 64 * 1024

/** Starts `troupe <command> <args as JSON>` with an IPC channel; `keep` gets its output as it comes. */
export function forkMember(command: string, args: unknown, keep: (text: string) => void): ChildProcess {
  const child = fork(fileURLToPath(new URL('../cli.js', import.meta.url)), [command, JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    detached: true,
    execArgv: process.execArgv.filter((a) => !a.startsWith('--inspect')),
  })
  const onData = (chunk: Buffer): void => keep(chunk.toString())
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  return child
}

/**
 * Until the function it returns is called: SIGINT, SIGTERM and SIGHUP run
 * `killAll` and end the parent (status 128 + the signal's number), and the
 * parent's exit runs it too.
 */
export function killMembersOnExit(killAll: () => void): () => void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  const onSignal = (signal: NodeJS.Signals): void => {
    killAll()
    process.stderr.write(`troupe bench: ${signal}: stopped, members killed\n`)
    process.exit(128 + os.constants.signals[signal])
  }
  for (const s of signals) process.once(s, onSignal)
  process.on('exit', killAll)
  return () => {
    for (const s of signals) process.off(s, onSignal)
    process.off('exit', killAll)
  }
}

/** A member process as a parent holds it: its output's tail and what it reported. */
export interface Member<Report> {
  index: number
  process: ChildProcess
  output: string
  view: number
  /** Everything it reported but views and failures, in order. */
  reports: Report[]
}

/**
 * Starts `count` members (`troupe <command> <argsOf(i)>`), each reporting
 * `{ t: 'view', size }`, `{ t: 'failed', message }` or anything else (kept in
 * `reports`), and kills every one on every way out (`close()`, a signal, the
 * parent's exit). `until()` waits for a condition on them, failing at once
 * when a member failed or exited.
 */
export class Members<Report extends { t: string }> {
  readonly all: Member<Report>[] = []
  private failure: Error | null = null
  private wake = (): void => {}
  private readonly release: () => void

  constructor(command: string, count: number, argsOf: (index: number) => unknown, private readonly timeoutMs: number) {
    this.release = killMembersOnExit(() => this.killAll())
    for (let index = 0; index < count; index++) {
      const child = forkMember(command, argsOf(index), (text) => {
        m.output = (m.output + text).slice(-OUTPUT_TAIL)
      })
      const m: Member<Report> = { index, process: child, output: '', view: 0, reports: [] }
      this.all.push(m)
      child.on('message', (r: Report | { t: 'view'; size: number } | { t: 'failed'; message: string }) => {
        if (r.t === 'view') m.view = (r as { size: number }).size
        else if (r.t === 'failed') this.failure ??= new Error(`member ${index} failed: ${(r as { message: string }).message}`)
        else m.reports.push(r as Report)
        this.wake()
      })
      child.on('exit', (code, signal) => {
        if (code !== 0) this.failure ??= new Error(`member ${index} ${signal ? `was killed by ${signal}` : `exited with status ${code}`}${m.output ? `:\n${m.output.trim()}` : ''}`)
        this.wake()
      })
    }
  }

  send(m: Member<Report>, message: unknown): void {
    m.process.send(message as never)
  }

  async until(what: string, done: () => boolean): Promise<void> {
    const deadline = Date.now() + this.timeoutMs
    while (!done()) {
      if (this.failure) throw this.failure
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise<void>((resolve) => {
        this.wake = resolve
        setTimeout(resolve, 1000).unref() // (and look at the deadline now and then)
      })
    }
  }

  /** Says 'finish' to each, waits a moment for them to leave, and kills what still runs. */
  async close(): Promise<void> {
    for (const m of this.all) if (m.process.connected) this.send(m, { cmd: 'finish' })
    await new Promise((resolve) => setTimeout(resolve, 500))
    this.killAll()
    this.release()
  }

  private killAll(): void {
    for (const m of this.all) if (m.process.exitCode === null && m.process.pid) try { process.kill(-m.process.pid, 'SIGKILL') } catch {}
  }
}
