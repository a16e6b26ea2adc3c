// The live shell's I/O: a native Engine for one incarnation of a member,
// opened from the resolved options, with its two rings and its counters.
// Group (group.ts) drives it; everything above it is sans-IO (member.ts, node/).
import { addon, type NativeEngine } from './engine.js'
import { FETCH_ROOM } from './node/outbox.js'
import { ipv4ToInt, type ResolvedOptions } from './options.js'
import { RingConsumer, RingProducer } from './ring.js'

const OUTBOUND_BYTES = 4 << 20
const INBOUND_BYTES = 8 << 20

export interface LiveEngine {
  engine: NativeEngine
  outbound: RingProducer
  inbound: RingConsumer
  counters: BigUint64Array
  /** This incarnation's id: 16 hex digits. */
  self: string
  /** The largest message record (larger messages go in fragments). */
  maxPayload: number
}

/** Opens the sockets and the I/O thread of a new incarnation; `onWake` runs once per batch of inbound records. */
export function openEngine(group: string, options: ResolvedOptions, key: Uint8Array | null, onWake: () => void): LiveEngine {
  const inject = options.inject
  // The inbound ring must hold several of the largest datagrams.
  const inboundBytes = Math.max(INBOUND_BYTES, nextPowerOfTwo(options.datagramSize * 8))
  const engine = new addon.Engine(
    {
      groupHash: addon.groupHash(group),
      name: options.name,
      groupIp: networkOrder(ipv4ToInt(options.address)),
      port: options.port,
      interfaceIp: networkOrder(ipv4ToInt(options.interface)),
      ttl: options.ttl,
      datagramSize: options.datagramSize,
      windowBytes: options.window,
      statusIntervalNs: options.statusInterval * 1e6,
      nakDelayNs: options.nakDelay * 1e6,
      suspectTimeoutNs: options.suspectTimeout * 1e6,
      slowTimeoutNs: options.slowReceiverTimeout * 1e6,
      receiveOwn: options.receiveOwn,
      autoRemove: false,
      retainBytes: 2 * options.window,
      receiveBuffer: options.receiveBuffer,
      sendBuffer: options.sendBuffer,
      busyPollNs: options.busyPoll * 1000,
      outboundBytes: OUTBOUND_BYTES,
      inboundBytes,
      seed: Math.floor(Math.random() * 2 ** 32),
      ...(key ? { key } : {}),
      ...(options.transport === 'udp-unicast' ? { peers: options.peers.flatMap((p) => [networkOrder(ipv4ToInt(p.address)), p.port]) } : {}),
      ...(inject ? { injectLoss: inject.loss, injectDuplicate: inject.duplicate, injectReorder: inject.reorder, injectSeed: inject.seed } : {}),
    },
    onWake,
  )
  const info = engine.info!
  const memory = engine.memory()
  const outbound = new RingProducer(memory, info.outboundOffset, OUTBOUND_BYTES)
  return {
    engine,
    outbound,
    inbound: new RingConsumer(memory, info.inboundOffset, inboundBytes),
    counters: new BigUint64Array(memory, 0, addon.counters.length),
    self: info.self,
    maxPayload: Math.min(info.maxPayload - FETCH_ROOM, outbound.maxPayload),
  }
}

function networkOrder(hostOrder: number): number {
  return (((hostOrder & 0xff) << 24) | ((hostOrder & 0xff00) << 8) | ((hostOrder >>> 8) & 0xff00) | (hostOrder >>> 24)) >>> 0
}

function nextPowerOfTwo(n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}
