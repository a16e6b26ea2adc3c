// What `troupe bench` (run.ts) and `troupe bench --transfer` (transfer.ts) do
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
