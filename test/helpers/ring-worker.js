// Producer thread for the JS ring stress test: writes `n` records whose size
// and bytes derive from the record number.
import { workerData, parentPort } from 'node:worker_threads'
import { RingProducer } from '../../dist/ring.js'

const { memory, capacity, n } = workerData
const ring = new RingProducer(memory, 0, capacity)
const sizeOf = (k) => 4 + ((k * 2654435761) >>> 0) % 300
let stalls = 0
for (let k = 0; k < n; k++) {
  const size = sizeOf(k)
  const rec = new Uint8Array(size)
  new DataView(rec.buffer).setUint32(0, k, true)
  for (let i = 4; i < size; i++) rec[i] = (k * 31 + i * 7) & 255
  while (!ring.write(2 + (k % 3), k & 0xffff, rec, 0, size)) {
    ring.publish()
    stalls++
  }
  if (k % 7 === 0) ring.publish()
}
ring.publish()
parentPort.postMessage({ stalls })
