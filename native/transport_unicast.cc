// Unicast fan-out (transport_udp.h), for networks without multicast: one
// socket, bound to the address the other members list in their `peers`; a
// datagram for the group goes to every member in turn.
#include <algorithm>

#include "seal.h"
#include "stats.h"
#include "transport_udp.h"

namespace troupe {

UnicastTransport::UnicastTransport(Sealer* sealer, uint64_t* counters, size_t maxDatagram)
    : UdpTransport(sealer, counters, maxDatagram) {
  if (sealer) sealed_.resize(maxDatagram);
}

int UnicastTransport::Open(const TransportConfig& c, std::string* what) {
  if (const int err = OpenUnicast(c, c.client ? 0 : c.port, what)) return err;
  fanout_.Configure(c.peers, local_, c.receiveOwn);
  return 0;
}

void UnicastTransport::SendTo(const uint8_t* p, size_t n, const Endpoint* to, bool lasting) {
  if (to) return Queue(p, n, *to, lasting);
  // The same datagram to every member: sealed once (one counter), then
  // copied; an open group's lasting bytes are sent from where they are.
  if (sealer_) {
    n = sealer_->Seal(p, n, sealed_.data());
    if (n == 0) { counters_[k_sendErrors]++; return; }
    p = sealed_.data();
    lasting = false;
  }
  for (const Endpoint& e : fanout_.targets()) QueueAsIs(p, n, e, lasting);
}

void Fanout::Configure(const std::vector<Endpoint>& peers, const Endpoint& self, bool receiveOwn) {
  targets_.clear();
  for (const Endpoint& e : peers) {
    if (std::find(targets_.begin(), targets_.end(), e) == targets_.end()) targets_.push_back(e);
  }
  auto it = std::find(targets_.begin(), targets_.end(), self);
  if (it == targets_.end() && receiveOwn) targets_.insert(targets_.begin(), self);
  else if (it != targets_.end() && !receiveOwn) targets_.erase(it);
  configured_ = targets_.size();
}

void Fanout::Learn(const Endpoint& e) {
  if (e.port != 0 && targets_.size() < configured_ + kMaxMembers &&
      std::find(targets_.begin(), targets_.end(), e) == targets_.end()) {
    targets_.push_back(e);
  }
}

void Fanout::Forget(const Endpoint& e) {
  auto it = std::find(targets_.begin() + ptrdiff_t(configured_), targets_.end(), e);
  if (it != targets_.end()) targets_.erase(it);
}

}  // namespace troupe
