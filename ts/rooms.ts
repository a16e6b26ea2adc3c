// The library's rooms built on a group, as an application could build them:
// bulk transfers (transfer/), requests (rpc/), subjects (subjects.ts) and
// clients (clients/: open groups). Group (group.ts) owns one
// Rooms and hands it what is theirs: messages of the system channel (by the
// room byte each starts with), room messages of the application channel
// (RoomMessage), views, 'drain', and the end of an incarnation.
import { Clients, type ClientsPort } from './clients/room.js'
import { ROOM_CLIENTS } from './clients/wire.js'
import type { Message, View } from './message.js'
import { Requests, type RequestsPort } from './rpc/room.js'
import { ROOM_REQUESTS } from './rpc/wire.js'
import { TroupeError } from './errors.js'
import { ROOM_SUBJECTS, Subjects } from './subjects.js'
import { Transfers, type TransfersPort } from './transfer/room.js'

export class Rooms {
  readonly transfers: Transfers
  readonly requests: Requests
  readonly subjects = new Subjects()
  readonly clients: Clients

  constructor(port: { transfers: TransfersPort; requests: RequestsPort; clients: ClientsPort }) {
    this.transfers = new Transfers(port.transfers)
    this.requests = new Requests(port.requests)
    this.clients = new Clients(port.clients)
  }

  /** A message of the system channel, in its sender's stream order. */
  onSystem(sender: string, data: Uint8Array): void {
    if (data[0] === ROOM_REQUESTS) this.requests.onReply(sender, data)
    else this.transfers.onMessage(sender, data) // (and our own, which come back empty)
  }

  /** A direct message from another member (node/direct.ts). */
  onDirect(sender: string, data: Uint8Array): void {
    if (data[0] === ROOM_REQUESTS) this.requests.onReply(sender, data)
    else if (data[0] === ROOM_CLIENTS) this.clients.onForward(sender, data)
  }

  /** A room message of the application channel, delivered in its order. */
  onMessage(msg: Message): void {
    if (msg.data.length === 0) return // (a subject message the engine dropped, delivered as its place only: node/receiver.ts onSkipped)
    if (msg.data[0] === ROOM_SUBJECTS) this.subjects.onMessage(msg)
    else if (msg.data[0] === ROOM_CLIENTS) this.clients.onMessage(msg)
    else this.requests.onMessage(msg)
  }

  onView(view: View): void {
    this.transfers.onView(view)
    this.requests.onView(view)
    this.clients.onView(view)
  }

  /** This incarnation was left out of the view and a new one rejoins (`reason`). */
  rejoining(reason: string): void {
    this.transfers.close(new TroupeError('ERR_TROUPE_TRANSFER_ABORTED', `this member was left out of the view (${reason}) and rejoins as a new incarnation: its transfers end`), false)
    this.requests.close(new TroupeError('ERR_TROUPE_REJOINED', `request(): this member was left out of the view (${reason}) and rejoins as a new incarnation: its requests end`), false)
    this.clients.reset()
  }

  /** The group closed for good (`error`: why, if not left). */
  close(group: string, error: Error | null): void {
    this.transfers.close(error ?? new TroupeError('ERR_TROUPE_CLOSED', `the group '${group}' was left before the transfer ended`), true)
    this.requests.close(error ?? new TroupeError('ERR_TROUPE_CLOSED', `request(): the group '${group}' was left before the answers came`), true)
    this.clients.reset()
  }
}
