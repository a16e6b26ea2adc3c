#include "transport.h"

#include <arpa/inet.h>
#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace troupe {

namespace {
// Asks for a buffer size; as root the FORCE variants pass net.core.*mem_max.
void SizeBuffer(int fd, int forced, int plain, int bytes) {
  if (bytes <= 0) return;
  if (setsockopt(fd, SOL_SOCKET, forced, &bytes, sizeof bytes) != 0) {
    setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof bytes);
  }
}
}  // namespace

int Transport::Open(const TransportConfig& c, std::string* what) {
  auto fail = [&](const char* step) { int e = errno; *what = step; Close(); return e ? e : EINVAL; };
  const int one = 1, zero = 0;
  const unsigned char ttl = static_cast<unsigned char>(c.ttl), loop = 1;

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (c.unicastOnly) {
    addr.sin_port = htons(c.port);
    addr.sin_addr.s_addr = c.interfaceIp;
    ucast_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ucast_ < 0) return fail("socket(unicast)");
    if (bind(ucast_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return fail("bind(unicast, interface:port)");
    SizeBuffer(ucast_, SO_RCVBUFFORCE, SO_RCVBUF, c.receiveBuffer);
    SizeBuffer(ucast_, SO_SNDBUFFORCE, SO_SNDBUF, c.sendBuffer);
    local_ = Endpoint{addr.sin_addr.s_addr, addr.sin_port};
    group_ = Endpoint{};
    return 0;
  }

  // Multicast receive socket: bound to the group address so that other
  // groups on the same port are not delivered here at all.
  mcast_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (mcast_ < 0) return fail("socket(multicast)");
  if (setsockopt(mcast_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) return fail("SO_REUSEADDR");
  addr.sin_port = htons(c.port);
  addr.sin_addr.s_addr = c.groupIp;
  if (bind(mcast_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return fail("bind(multicast)");
  ip_mreq mreq{};
  mreq.imr_multiaddr.s_addr = c.groupIp;
  mreq.imr_interface.s_addr = c.interfaceIp;
  if (setsockopt(mcast_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0) return fail("IP_ADD_MEMBERSHIP");
  setsockopt(mcast_, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero);
  SizeBuffer(mcast_, SO_RCVBUFFORCE, SO_RCVBUF, c.receiveBuffer);

  // Unicast socket: sends everything (multicast too), receives NAKs and
  // retransmissions addressed to us.
  ucast_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (ucast_ < 0) return fail("socket(unicast)");
  addr.sin_port = 0;
  addr.sin_addr.s_addr = c.interfaceIp;
  if (bind(ucast_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return fail("bind(unicast)");
  in_addr iface{};
  iface.s_addr = c.interfaceIp;
  if (setsockopt(ucast_, IPPROTO_IP, IP_MULTICAST_IF, &iface, sizeof iface) != 0) return fail("IP_MULTICAST_IF");
  if (setsockopt(ucast_, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) != 0) return fail("IP_MULTICAST_LOOP");
  if (setsockopt(ucast_, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) != 0) return fail("IP_MULTICAST_TTL");
  SizeBuffer(ucast_, SO_RCVBUFFORCE, SO_RCVBUF, c.receiveBuffer);
  SizeBuffer(ucast_, SO_SNDBUFFORCE, SO_SNDBUF, c.sendBuffer);
  socklen_t len = sizeof addr;
  if (getsockname(ucast_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return fail("getsockname");
  local_ = Endpoint{addr.sin_addr.s_addr, addr.sin_port};
  group_ = Endpoint{c.groupIp, htons(c.port)};
  return 0;
}

void Transport::Close() {
  if (mcast_ >= 0) close(mcast_);
  if (ucast_ >= 0) close(ucast_);
  mcast_ = ucast_ = -1;
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
