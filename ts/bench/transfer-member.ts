// One member process of `troupe bench --transfer` (the hidden `troupe
// bench-transfer-member`). Member 0 is the source: it moves the object with
// group.transfer(), then the same bytes over one plain TCP stream per
// receiver (what a user would write instead). The others receive both and
// report how long it took and the CPU it cost. The object is one random MiB
// repeated, made as it goes: neither side ever holds it whole.
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, connect, type Socket } from 'node:net'
import { Readable } from 'node:stream'
import { addon } from '../engine.js'

import { Group, type JoinOptions } from '../index.js'

export interface TransferMemberArgs {
  group: string
  index: number
  join: JoinOptions
}

export type TransferToMember = { cmd: 'troupe'; bytes: number } | { cmd: 'tcp'; bytes: number; ports: number[] } | { cmd: 'finish' }

/** What a member says of one phase: `cpuMs` is user + system CPU over `ms` of wall time. */
export interface PhaseReport {
  role: 'source' | 'receiver'
  bytes: number
  ms: number
  cpuMs: number
  crc: number
  error?: string
}

export type TransferToParent =
  | { t: 'ready'; me: string; port: number }
  | { t: 'view'; size: number }
  | { t: 'troupe'; report: PhaseReport }
  | { t: 'tcp'; report: PhaseReport }
  | { t: 'failed'; message: string }

const BLOCK = 1 << 20

export async function runTransferMember(args: TransferMemberArgs): Promise<void> {
  const toParent = (m: TransferToParent): void => void process.send!(m)
  process.on('disconnect', () => process.exit(1))
  const block = randomBytes(BLOCK)
  const group = await Group.join(args.group, { ...args.join, name: `bench-${args.index}` })
  group.on('view', (v) => toParent({ t: 'view', size: v.members.length }))

  // Receivers: every transfer, and every TCP connection, is one phase.
  const server = createServer((socket) => void receiveTcp(socket).then((report) => toParent({ t: 'tcp', report })))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  group.on('transfer', (t) => void receiveTransfer(t).then((report) => toParent({ t: 'troupe', report })))

  process.on('message', (m: TransferToMember) => {
    if (m.cmd === 'troupe') void sendTransfer(group, block, m.bytes).then((report) => toParent({ t: 'troupe', report }))
    else if (m.cmd === 'tcp') void sendTcp(block, m.bytes, m.ports).then((report) => toParent({ t: 'tcp', report }))
    else if (m.cmd === 'finish') {
      server.close()
      void group.leave().finally(() => process.exit(0))
    }
  })
  toParent({ t: 'ready', me: group.me, port: (server.address() as { port: number }).port })
  toParent({ t: 'view', size: group.view.members.length })
}

/** Measures `work` in wall time and this process's CPU. */
async function measured(role: PhaseReport['role'], work: () => Promise<{ bytes: number; crc: number }>): Promise<PhaseReport> {
  const cpu = process.cpuUsage()
  const start = performance.now()
  try {
    const { bytes, crc } = await work()
    const used = process.cpuUsage(cpu)
    return { role, bytes, crc, ms: performance.now() - start, cpuMs: (used.user + used.system) / 1000 }
  } catch (err) {
    return { role, bytes: 0, crc: 0, ms: performance.now() - start, cpuMs: 0, error: String((err as Error)?.message ?? err) }
  }
}

function* repeated(block: Buffer, bytes: number): Generator<Buffer> {
  for (let left = bytes; left > 0; left -= block.length) yield left >= block.length ? block : block.subarray(0, left)
}

function sendTransfer(group: Group, block: Buffer, bytes: number): Promise<PhaseReport> {
  return measured('source', async () => {
    const result = await group.transfer(Readable.from(repeated(block, bytes), { objectMode: false }), { name: 'bench' })
    return { bytes: result.bytes, crc: result.crc32c }
  })
}

function receiveTransfer(stream: Readable): Promise<PhaseReport> {
  // The library checks the length and CRC-32C before it ends the stream. Read
  // as pipe() and pipeline() read (a 'data' event per chunk): `for await`
  // would join the chunks buffered at each step into one new Buffer.
  return measured('receiver', () => new Promise((resolve, reject) => {
    let bytes = 0
    stream.on('data', (chunk: Uint8Array) => (bytes += chunk.length))
    stream.once('end', () => resolve({ bytes, crc: 0 }))
    stream.once('error', reject)
  }))
}

/** The same bytes over one TCP stream per receiver, written in step (each waits for 'drain'). */
function sendTcp(block: Buffer, bytes: number, ports: number[]): Promise<PhaseReport> {
  return measured('source', async () => {
    const sockets: Socket[] = await Promise.all(ports.map(async (port) => {
      const s = connect(port, '127.0.0.1')
      await once(s, 'connect')
      return s
    }))
    const closed = Promise.all(sockets.map((s) => once(s, 'close')))
    let crc = 0
    for (const piece of repeated(block, bytes)) {
      crc = addon.crc32c(piece, crc) // (what the library does at the source: once, for every receiver)
      const full = sockets.filter((s) => !s.write(piece))
      if (full.length) await Promise.all(full.map((s) => once(s, 'drain')))
    }
    for (const s of sockets) s.end()
    await closed // (each receiver closes once it has read everything)
    return { bytes, crc }
  })
}

function receiveTcp(socket: Socket): Promise<PhaseReport> {
  return measured('receiver', async () => {
    let bytes = 0
    let crc = 0
    await new Promise<void>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        crc = addon.crc32c(chunk, crc) // (checked as the library checks a transfer)
        bytes += chunk.length
      })
      socket.once('end', resolve)
      socket.once('error', reject)
    })
    socket.end()
    return { bytes, crc }
  })
}
