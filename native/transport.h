// UDP sockets for one group member: a multicast socket that receives the
// group's traffic and a unicast socket that sends everything (so that every
// datagram's source address is where NAKs and retransmissions go) and
// receives what is meant for this member alone.
//
// Unicast-only groups (networks without multicast): no multicast socket; the
// unicast socket is bound to the configured interface and port, which is the
// address the other members list in their `peers`, and a datagram for the
// group is sent to each peer in turn (Engine::Send).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "reliability.h"

namespace troupe {

struct TransportConfig {
  uint32_t groupIp = 0;      // network byte order, 224.0.0.0/4
  uint16_t port = 0;         // host byte order
  uint32_t interfaceIp = 0;  // network byte order; 127.0.0.1 by default
  int ttl = 1;
  int receiveBuffer = 8 << 20;  // bytes asked of the kernel (forced when root)
  int sendBuffer = 4 << 20;
  bool unicastOnly = false;     // no multicast: fan out to `peers`
  std::vector<Endpoint> peers;  // unicastOnly: every member's address (ours may be among them)
};

// Unicast-only groups: where a datagram for the group goes. The configured
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

class Transport {
 public:
  ~Transport() { Close(); }
  // Returns 0, or an errno with `what` naming the step that failed.
  int Open(const TransportConfig& c, std::string* what);
  void Close();
  int multicastFd() const { return mcast_; }  // -1 when unicast-only
  int unicastFd() const { return ucast_; }
  Endpoint local() const { return local_; }
  Endpoint group() const { return group_; }  // unicast-only: {0, 0}

 private:
  int mcast_ = -1;
  int ucast_ = -1;
  Endpoint local_;
  Endpoint group_;
};

}  // namespace troupe
