// Multicast (transport_udp.h): a datagram for the group goes once, to the
// group's address, from the unicast socket; a second socket receives the
// group's traffic.
#include <arpa/inet.h>
#include <linux/filter.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "transport_udp.h"
#include "wire.h"

namespace troupe {

int MulticastTransport::Open(const TransportConfig& c, std::string* what) {
  const int one = 1, zero = 0;
  if (c.client) return OpenSender(c, what);

  // Multicast receive socket: bound to the group address so that other
  // groups on the same port are not delivered here at all.
  mcast_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (mcast_ < 0) return Fail("socket(multicast)", what);
  if (setsockopt(mcast_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) return Fail("SO_REUSEADDR", what);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(c.port);
  addr.sin_addr.s_addr = c.groupIp;
  if (bind(mcast_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return Fail("bind(multicast)", what);
  ip_mreq mreq{};
  mreq.imr_multiaddr.s_addr = c.groupIp;
  mreq.imr_interface.s_addr = c.interfaceIp;
  if (setsockopt(mcast_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0) return Fail("IP_ADD_MEMBERSHIP", what);
  setsockopt(mcast_, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero);
  SizeBuffer(mcast_, SO_RCVBUFFORCE, SO_RCVBUF, c.receiveBuffer);
  if (!c.receiveOwn && c.self) DropOwnData(mcast_, c.self);

  return OpenSender(c, what);
}

// A classic BPF filter on the group socket: a plain DATA datagram whose
// sender is us is dropped before the kernel copies it to us. Offsets are
// from the UDP header (8 bytes) where a socket filter sees a UDP datagram;
// loads are big-endian, the wire little-endian (wire.h). Sealed datagrams
// ("TS") pass: their type is not in the clear. Not attached (an old
// kernel): our DATA comes up and the core drops it, as before.
void MulticastTransport::DropOwnData(int fd, uint64_t self) {
  uint8_t id[8];
  std::memcpy(id, &self, 8);  // (little-endian hosts: wire order)
  const uint32_t low = uint32_t(id[0]) << 24 | uint32_t(id[1]) << 16 | uint32_t(id[2]) << 8 | id[3];
  const uint32_t high = uint32_t(id[4]) << 24 | uint32_t(id[5]) << 16 | uint32_t(id[6]) << 8 | id[7];
  const uint32_t magic = uint32_t(kMagic & 0xff) << 8 | kMagic >> 8;  // "TR" read big-endian
  constexpr uint32_t kUdp = 8;
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, kUdp + 0),     // magic
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, magic, 0, 7),
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kUdp + 3),     // type
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kData, 0, 5),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kUdp + 8),     // sender, first 4 bytes
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, low, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kUdp + 12),    // sender, last 4
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, high, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0),                     // ours: dropped
      BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),           // anything else: kept whole
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
}

// The unicast socket sends the group's datagrams too; on any port.
int MulticastTransport::OpenSender(const TransportConfig& c, std::string* what) {
  const unsigned char ttl = static_cast<unsigned char>(c.ttl), loop = 1;
  if (const int err = OpenUnicast(c, 0, what)) return err;
  in_addr iface{};
  iface.s_addr = c.interfaceIp;
  if (setsockopt(ucast_, IPPROTO_IP, IP_MULTICAST_IF, &iface, sizeof iface) != 0) return Fail("IP_MULTICAST_IF", what);
  if (setsockopt(ucast_, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) != 0) return Fail("IP_MULTICAST_LOOP", what);
  if (setsockopt(ucast_, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) != 0) return Fail("IP_MULTICAST_TTL", what);
  group_ = Endpoint{c.groupIp, htons(c.port)};
  auto_ = c.autoFallback;
  self_ = local_;
  if (auto_) for (const Endpoint& e : c.peers) Learn(e);
  return 0;
}

void MulticastTransport::SendTo(const uint8_t* p, size_t n, const Endpoint* to, bool lasting) {
  if (to) return Queue(p, n, *to, lasting);
  Queue(p, n, group_, lasting);
  if (!auto_) return;
  // (Each copy sealed on its own: a datagram's seal counter is used once.)
  for (const Endpoint& e : unicast_) Queue(p, n, e, lasting);
  if (n > 3 && p[3] == kStatus) {
    for (const Endpoint& e : known_) {
      if (std::find(unicast_.begin(), unicast_.end(), e) == unicast_.end()) Queue(p, n, e, lasting);
    }
  }
}

void MulticastTransport::Learn(const Endpoint& member) {
  if (!auto_ || member.port == 0 || member == self_ || known_.size() >= 2 * kMaxMembers) return;
  if (std::find(known_.begin(), known_.end(), member) == known_.end()) known_.push_back(member);
}

void MulticastTransport::Forget(const Endpoint& member) {
  known_.erase(std::remove(known_.begin(), known_.end(), member), known_.end());
  unicast_.erase(std::remove(unicast_.begin(), unicast_.end(), member), unicast_.end());
}

void MulticastTransport::SetUnicast(const Endpoint& member, bool on) {
  // (Ourselves too: a member whose own multicast does not come back to it.)
  if (!auto_ || member.port == 0) return;
  const auto at = std::find(unicast_.begin(), unicast_.end(), member);
  if (on && at == unicast_.end() && unicast_.size() < kMaxMembers) unicast_.push_back(member);
  if (!on && at != unicast_.end()) unicast_.erase(at);
}

}  // namespace troupe
