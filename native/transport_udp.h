// The two UDP transports (transport.h) and what they share.
//
// Both send everything from one unicast socket, so that every datagram's
// source address is where NAKs and retransmissions go, and receive on it
// what is meant for this member alone. They differ in where a datagram for
// the group goes:
//
//   multicast   one datagram to the group's address; a second socket, bound
//               to that address, receives the group's traffic
//   unicast     no multicast socket; the unicast socket is bound to the
//               configured interface and port, which is the address the
//               other members list in their `peers`, and a datagram for the
//               group goes to each member in turn (Fanout)
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include "transport.h"

namespace troupe {

class UdpTransport : public Transport {
 public:
  UdpTransport(Sealer* sealer, uint64_t* counters, size_t maxDatagram);
  ~UdpTransport() override { Close(); }

  void Close() override;
  std::array<int, kSockets> sockets() const override { return {mcast_, ucast_}; }
  Endpoint local() const override { return local_; }
  void Flush() override;
  int Receive(int socket, uint64_t nowNs, Batch* out) override;
  void ReceiveInto(DatagramPool* pool) override;

 protected:
  // Opens the unicast socket on the interface and `port` (0: any).
  int OpenUnicast(const TransportConfig& c, uint16_t port, std::string* what);
  // Closes what is open; returns the errno of `step`, named in `what`.
  int Fail(const char* step, std::string* what);
  static void SizeBuffer(int fd, int forced, int plain, int bytes);
  // Queue one datagram for sendmmsg: sealed here in a closed group, or
  // copied as it is (already sealed, or the group is open); `lasting`
  // bytes of an open group are sent from where they are (SendLasting).
  void Queue(const uint8_t* p, size_t n, const Endpoint& to, bool lasting = false);
  void QueueAsIs(const uint8_t* p, size_t n, const Endpoint& to, bool lasting = false);

  Sealer* const sealer_;      // the engine's; null unless the group is closed
  uint64_t* const counters_;  // the engine's
  int mcast_ = -1;
  int ucast_ = -1;
  Endpoint local_;

 private:
  uint8_t* NextSlot();
  void Commit(const uint8_t* p, size_t n, const Endpoint& to);

  // Send batch: each datagram copied (or sealed) into its slot, or where it lies (lasting).
  std::vector<uint8_t> sendMem_;
  size_t slotBytes_;
  mmsghdr sendMsgs_[kBatch];
  iovec sendIov_[kBatch];
  sockaddr_in sendTo_[kBatch];
  int sendCount_ = 0;

  // Receive batch; a closed group's datagrams are opened in place. Each
  // datagram in a slot of its own: recvMem_, or a unit of the pool's
  // (ReceiveInto), which a keeper may take (Received::hold).
  std::vector<uint8_t> recvMem_;
  DatagramPool* pool_ = nullptr;
  uint8_t* recvSlot_[kBatch];
  mmsghdr recvMsgs_[kBatch];
  iovec recvIov_[kBatch];
  sockaddr_in recvFrom_[kBatch];
};

class MulticastTransport final : public UdpTransport {
 public:
  using UdpTransport::UdpTransport;
  int Open(const TransportConfig& c, std::string* what) override;
  void Send(const uint8_t* p, size_t n, const Endpoint* to) override { SendTo(p, n, to, false); }
  void SendLasting(const uint8_t* p, size_t n, const Endpoint* to) override { SendTo(p, n, to, true); }
  // transport 'auto' (TransportConfig::autoFallback): the members we know, for STATUS probes.
  void Learn(const Endpoint& member) override;
  void Forget(const Endpoint& member) override;
  void SetUnicast(const Endpoint& member, bool on) override;

 private:
  void SendTo(const uint8_t* p, size_t n, const Endpoint* to, bool lasting);
  int OpenSender(const TransportConfig& c, std::string* what);
  static void DropOwnData(int fd, uint64_t self);
  Endpoint group_;
  bool auto_ = false;
  Endpoint self_;
  std::vector<Endpoint> known_;    // auto: every member heard of (and the configured peers): STATUS goes to each
  std::vector<Endpoint> unicast_;  // auto: members that do not hear our multicast: everything goes to each
};

// Where a datagram for the group goes without multicast. The configured
// peers first (they stay), then members learned from their datagrams (a
// joiner no list named; at most kMaxMembers of them), dropped again when they
// leave or are forgotten. Ourselves too, as multicast's loop would bring our
// own datagrams back, when we deliver our own messages.
class Fanout {
 public:
  void Configure(const std::vector<Endpoint>& peers, const Endpoint& self, bool receiveOwn);
  void Learn(const Endpoint& e);   // a member heard from (port 0: none known)
  void Forget(const Endpoint& e);  // a learned member left or was forgotten
  const std::vector<Endpoint>& targets() const { return targets_; }

 private:
  std::vector<Endpoint> targets_;
  size_t configured_ = 0;  // targets_[0, configured_) stay
};

class UnicastTransport final : public UdpTransport {
 public:
  UnicastTransport(Sealer* sealer, uint64_t* counters, size_t maxDatagram);
  int Open(const TransportConfig& c, std::string* what) override;
  void Send(const uint8_t* p, size_t n, const Endpoint* to) override { SendTo(p, n, to, false); }
  void SendLasting(const uint8_t* p, size_t n, const Endpoint* to) override { SendTo(p, n, to, true); }
  void Learn(const Endpoint& member) override { fanout_.Learn(member); }
  void Forget(const Endpoint& member) override { fanout_.Forget(member); }

 private:
  void SendTo(const uint8_t* p, size_t n, const Endpoint* to, bool lasting);
  Fanout fanout_;
  std::vector<uint8_t> sealed_;  // a datagram for the group, sealed once for every member
};

}  // namespace troupe
