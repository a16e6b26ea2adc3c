#!/usr/bin/env node
// The `troupe` command. Subcommands load only what they need, so that `troupe
// --help` works even where the native addon does not load.

import { readFileSync } from 'node:fs'

const HELP = `Usage: troupe <command> [options]

Virtually synchronous process groups and reliable UDP multicast for Node.js.

Commands:
  bench       run a group of member processes on this host and measure
              throughput, latency, round trip and loss repair
              (troupe bench --help for its options)
  sim         run the deterministic simulator over many seeds and check
              the invariants of virtual synchrony (troupe sim --help)
  help [cmd]  this text, or a command's options

Options:
  -h, --help     this text
  -v, --version  the version`

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(`${HELP}\n`)
      return 0
    case 'help':
      if (rest[0] === 'bench' || rest[0] === 'sim') return main([rest[0], '--help'])
      if (rest[0] !== undefined) return usage(`unknown command '${rest[0]}'`)
      return main([])
    case '-v':
    case '--version':
      process.stdout.write(`${version()}\n`)
      return 0
    case 'bench': {
      const { parseBenchArgs, benchHelp, UsageError } = await import('./bench/options.js')
      let config
      try {
        config = parseBenchArgs(rest)
      } catch (err) {
        if (err instanceof UsageError) return usage(err.message, 'troupe bench')
        throw err
      }
      if (config === null) {
        process.stdout.write(`${benchHelp()}\n`)
        return 0
      }
      if (config.app) {
        const { runAppBench } = await import('./bench/app.js')
        return runAppBench(config)
      }
      if (config.transfer !== undefined) {
        const { runTransferBench } = await import('./bench/transfer.js')
        return runTransferBench(config)
      }
      const { runBench } = await import('./bench/run.js')
      return runBench(config)
    }
    case 'sim': {
      const { runSim, simHelp } = await import('./sim/cli.js')
      if (rest.includes('--help') || rest.includes('-h')) {
        process.stdout.write(`${simHelp}\n`)
        return 0
      }
      try {
        return runSim(rest)
      } catch (err) {
        if (err instanceof RangeError) return usage(err.message, 'troupe sim')
        throw err
      }
    }
    case 'bench-member': {
      // Hidden: one member process of `troupe bench`, started by it with an IPC channel.
      const { runMember, fail } = await import('./bench/member.js').catch((err: unknown) => {
        // The addon (or the library) did not load: say so to the parent, which shows it.
        const message = `cannot load troupe: ${err instanceof Error ? err.message : String(err)}`
        process.stderr.write(`${err instanceof Error ? (err.stack ?? message) : message}\n`)
        process.send?.({ t: 'failed', message })
        throw err
      })
      if (!process.send || rest.length !== 1) {
        process.stderr.write('troupe bench-member is started by `troupe bench`, not by hand\n')
        return 2
      }
      await runMember(JSON.parse(rest[0]!)).catch(fail)
      return -1 // keep running: the member exits when the parent says 'finish'
    }
    case 'bench-transfer-member': // Hidden: one member process of `troupe bench --transfer`.
      return hiddenMember(command, '--transfer', rest, async (args) => (await import('./bench/transfer-member.js')).runTransferMember(args as never))
    case 'bench-app-member': // Hidden: one member process of `troupe bench --app`.
      return hiddenMember(command, '--app', rest, async (args) => (await import('./bench/app-member.js')).runAppMember(args as never))
    default:
      return usage(`unknown command '${command}'`)
  }
}

/** Runs a member process of a bench mode (started by the parent with an IPC channel); it exits on the parent's 'finish'. */
async function hiddenMember(command: string, mode: string, rest: string[], run: (args: unknown) => Promise<void>): Promise<number> {
  if (!process.send || rest.length !== 1) {
    process.stderr.write(`troupe ${command} is started by \`troupe bench ${mode}\`, not by hand\n`)
    return 2
  }
  await run(JSON.parse(rest[0]!)).catch((err: unknown) => {
    process.send?.({ t: 'failed', message: err instanceof Error ? err.message : String(err) })
    throw err
  })
  return -1 // keep running: the member exits on 'finish'
}

function usage(message: string, command = 'troupe'): number {
  process.stderr.write(`${command}: ${message}\nRun '${command} --help' for the options.\n`)
  return 2
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`troupe: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = 1
    // A member that failed this way has an IPC channel open that would keep it alive.
    if (process.connected) process.disconnect()
  },
)
