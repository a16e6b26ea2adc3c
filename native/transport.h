// How a member's datagrams reach the others, and theirs reach it: the
// interface the engine sends and receives through, whatever the network.
//
//   MulticastTransport   a datagram for the group goes once, to the group's
//                        address (transport_multicast.cc)
//   UnicastTransport     networks without multicast: it goes to every member
//                        in turn (transport_unicast.cc)
//   FaultInjector        (tests) wraps either, and drops, duplicates and
//                        reorders what it receives (inject.h)
//
// The engine picks one in Start() and otherwise does not know which it has.
// Every call but sockets() and local() is made under the engine's mutex.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "reliability.h"

namespace troupe {

class Sealer;

struct TransportConfig {
  uint32_t groupIp = 0;      // network byte order, 224.0.0.0/4
  uint16_t port = 0;         // host byte order
  uint32_t interfaceIp = 0;  // network byte order; 127.0.0.1 by default
  int ttl = 1;
  int receiveBuffer = 8 << 20;  // bytes asked of the kernel (forced when root)
  int sendBuffer = 4 << 20;
  bool unicastOnly = false;     // no multicast: fan out to `peers`
  std::vector<Endpoint> peers;  // unicastOnly: every member's address (ours may be among them)
  // unicastOnly: the group's datagrams go to ourselves too, as multicast's
  // loop would bring them back (the engine copies the core's receiveOwn).
  bool receiveOwn = false;
  // Our incarnation id. Multicast with receiveOwn false: the group socket
  // drops our own DATA in the kernel (a socket filter), before it is copied
  // to us only to be thrown away (a sender's every byte, once more).
  uint64_t self = 0;
  // A client of the group (open groups): no group socket, and our unicast
  // socket on any port; the group's address (or `peers`) only to send to.
  bool client = false;
  // transport 'auto': multicast, and (autoFallback) unicast besides: every
  // STATUS also to each member we know of (so a member whose multicast does
  // not reach us is still heard), and every datagram for the group also to
  // the members that said they do not hear our multicast (SetUnicast).
  // `peers`: addresses to probe from the start.
  bool autoFallback = false;
};

// One received datagram: its plain bytes (opened in place in a closed group).
struct Received {
  const uint8_t* data;
  size_t size;
  Endpoint from;
  // The transport's hold on the pool's unit the datagram lies in
  // (ReceiveInto): whoever keeps the datagram may take the unit, putting a
  // fresh one of the pool in its place. nullptr: the bytes are the
  // transport's until the next Receive.
  uint8_t** hold = nullptr;
};

class Transport {
 public:
  static constexpr int kBatch = 64;   // datagrams per sendmmsg and per recvmmsg
  static constexpr int kSockets = 2;  // sockets to poll, at most

  // What one Receive hands over. Twice a socket batch: the fault injector
  // may pass every datagram on twice.
  struct Batch {
    Received at[2 * kBatch];
    int count = 0;
  };

  virtual ~Transport() = default;

  // Returns 0, or an errno with `what` naming the step that failed.
  virtual int Open(const TransportConfig& c, std::string* what) = 0;
  virtual void Close() = 0;
  // The sockets to read, in this order, -1 for none: the group's (none when
  // unicast-only), then ours. Fixed from Open() to Close(); the addon polls
  // them on Node's loop too.
  virtual std::array<int, kSockets> sockets() const = 0;
  // Our unicast address: where the others send NAKs and retransmissions.
  virtual Endpoint local() const = 0;

  // Queues one datagram, for the group (to == nullptr) or for one member.
  // The bytes are copied (sealed in a closed group); a full batch goes out.
  virtual void Send(const uint8_t* p, size_t n, const Endpoint* to) = 0;
  // The same, for bytes that stay as they are until the next Flush() (the
  // retransmit log's): an open group's transport sends them from where they
  // are, without a copy.
  virtual void SendLasting(const uint8_t* p, size_t n, const Endpoint* to) { Send(p, n, to); }
  // Hands what is queued to the kernel.
  virtual void Flush() = 0;

  // Reads one batch from `socket` (one of sockets()) into `out`. Returns how
  // many datagrams the socket gave (0: none waiting); out->count may differ
  // (what does not open is dropped, counted; the fault injector drops and
  // duplicates). The bytes stay valid until the next Receive or TakeHeld.
  virtual int Receive(int socket, uint64_t nowNs, Batch* out) = 0;
  // Receive into units of `pool` (each datagram in one of its own), which a
  // keeper may take (Received::hold). Before the first Receive; nullptr
  // (or a pool without room for a batch): the transport's own memory.
  virtual void ReceiveInto(DatagramPool* pool) {}
  // Datagrams an earlier Receive held back (the fault injector reorders and
  // delays so), taken once the sockets have been read: they arrive late.
  virtual void TakeHeld(uint64_t nowNs, Batch* out) { out->count = 0; }
  // When a datagram held back is due (the engine wakes for it); max: none.
  virtual uint64_t NextDueNs() const { return UINT64_MAX; }

  // A member heard from, or one that left or was forgotten: the unicast
  // fan-out sends to it, or stops.
  virtual void Learn(const Endpoint& member) {}
  virtual void Forget(const Endpoint& member) {}
  // transport 'auto': the member at `member` does (on) or does not hear our
  // multicast: the group's datagrams go to it by unicast too, or no longer.
  virtual void SetUnicast(const Endpoint& member, bool on) {}
  // Is `socket` the group's (multicast) socket?
  bool IsGroupSocket(int socket) const { return socket >= 0 && socket == sockets()[0]; }
};

// The transport `c` asks for, not yet open. `sealer` (closed groups, may be
// null) seals what is sent and opens what is received; `counters` are the
// engine's (stats.h); `maxDatagram` is the largest datagram the core sends,
// sealed.
std::unique_ptr<Transport> MakeTransport(const TransportConfig& c, Sealer* sealer, uint64_t* counters, size_t maxDatagram);

}  // namespace troupe
