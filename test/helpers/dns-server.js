// A small DNS server for the discovery tests: UDP, A and SRV records from a
// table the test sets (and changes while it runs), NXDOMAIN for the rest.
// Enough of RFC 1035 for Node's resolver; nothing else.
import dgram from 'node:dgram'

const A = 1, SRV = 33

export class DnsServer {
  /** records: { 'name': ['ip', ...] } (A), { '_svc._udp.name': [{ target, port }] } (SRV). */
  constructor(records = {}) {
    this.records = records
    this.queries = 0
    this.socket = dgram.createSocket('udp4')
    this.socket.on('message', (q, from) => this.answer(q, from))
  }

  /** Listens on `address` (any free port); resolves with 'ip:port' for option dnsServers. */
  listen(address = '127.0.0.1') {
    return new Promise((resolve) => this.socket.bind(0, address, () => resolve(`${address}:${this.socket.address().port}`)))
  }

  close() {
    this.socket.close()
  }

  answer(q, from) {
    if (q.length < 17) return
    this.queries++
    let at = 12
    const labels = []
    while (at < q.length && q[at] !== 0) {
      labels.push(q.subarray(at + 1, at + 1 + q[at]).toString('ascii'))
      at += 1 + q[at]
    }
    const question = q.subarray(12, at + 5)
    const type = q.readUInt16BE(at + 1)
    const name = labels.join('.').toLowerCase()
    const found = this.records[name]
    const answers = []
    if (Array.isArray(found)) {
      for (const r of found) {
        if (type === A && typeof r === 'string') answers.push(record(A, Buffer.from(r.split('.').map(Number))))
        if (type === SRV && typeof r === 'object') {
          const target = Buffer.concat([...r.target.split('.').map((l) => Buffer.concat([Buffer.of(l.length), Buffer.from(l)])), Buffer.of(0)])
          const head = Buffer.alloc(6)
          head.writeUInt16BE(0, 0)
          head.writeUInt16BE(0, 2)
          head.writeUInt16BE(r.port, 4)
          answers.push(record(SRV, Buffer.concat([head, target])))
        }
      }
    }
    const header = Buffer.alloc(12)
    header.writeUInt16BE(q.readUInt16BE(0), 0)
    header.writeUInt16BE(found ? 0x8180 : 0x8183, 2) // a response, recursion available; NXDOMAIN if unknown
    header.writeUInt16BE(1, 4)
    header.writeUInt16BE(answers.length, 6)
    this.socket.send(Buffer.concat([header, question, ...answers]), from.port, from.address)
  }
}

/** An answer for the question's name (a pointer to offset 12), TTL 1 s. */
function record(type, rdata) {
  const b = Buffer.alloc(12)
  b.writeUInt16BE(0xc00c, 0)
  b.writeUInt16BE(type, 2)
  b.writeUInt16BE(1, 4)
  b.writeUInt32BE(1, 6)
  b.writeUInt16BE(rdata.length, 10)
  return Buffer.concat([b, rdata])
}
