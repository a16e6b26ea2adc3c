// A DNS server as a host of the multi-host test bed (netns.js starts it like
// a member): argv group name optionsJSON, options { records }. It listens on
// the host's address (port 5353) and says { type: 'joined', me: 'ip:port' }.
// It exits when the test process is gone.
import { networkInterfaces } from 'node:os'
import { DnsServer } from './dns-server.js'

const [, , optionsJson] = process.argv.slice(2)
const { records } = JSON.parse(optionsJson)
const ip = Object.values(networkInterfaces()).flat().find((a) => a.family === 'IPv4' && !a.internal).address
const server = new DnsServer(records)
await new Promise((resolve) => server.socket.bind(5353, ip, resolve))
process.send({ type: 'joined', me: `${ip}:5353` })
process.on('disconnect', () => process.exit(0))
