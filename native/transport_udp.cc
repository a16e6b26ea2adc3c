// What the UDP transports share (transport_udp.h): the unicast socket, the
// sendmmsg and recvmmsg batches, sealing and opening in a closed group.
#include "transport_udp.h"

#include <cerrno>
#include <cstring>
#include <unistd.h>

#include "datagram_pool.h"
#include "seal.h"
#include "stats.h"

namespace troupe {

std::unique_ptr<Transport> MakeTransport(const TransportConfig& c, Sealer* sealer, uint64_t* counters, size_t maxDatagram) {
  if (c.unicastOnly) return std::make_unique<UnicastTransport>(sealer, counters, maxDatagram);
  return std::make_unique<MulticastTransport>(sealer, counters, maxDatagram);
}

UdpTransport::UdpTransport(Sealer* sealer, uint64_t* counters, size_t maxDatagram)
    : sealer_(sealer), counters_(counters), slotBytes_(maxDatagram) {
  sendMem_.resize(maxDatagram * kBatch);
  recvMem_.resize(kMaxDatagram * kBatch);
  for (int i = 0; i < kBatch; i++) recvSlot_[i] = recvMem_.data() + i * kMaxDatagram;
}

void UdpTransport::ReceiveInto(DatagramPool* pool) {
  static_assert(size_t(kBatch) <= DatagramPool::kReceiveUnits, "the pool has a unit for each datagram of a batch");
  if (!pool) return;
  uint8_t* units[kBatch];
  for (int i = 0; i < kBatch; i++) {
    if ((units[i] = pool->Get())) continue;
    while (i-- > 0) pool->Put(units[i]);  // (the pool has no room: our own memory, as before)
    return;
  }
  pool_ = pool;
  for (int i = 0; i < kBatch; i++) recvSlot_[i] = units[i];
  std::vector<uint8_t>().swap(recvMem_);
}

void UdpTransport::Close() {
  if (mcast_ >= 0) close(mcast_);
  if (ucast_ >= 0) close(ucast_);
  mcast_ = ucast_ = -1;
}

int UdpTransport::Fail(const char* step, std::string* what) {
  const int e = errno;
  *what = step;
  Close();
  return e ? e : EINVAL;
}

// Asks for a buffer size; as root the FORCE variants pass net.core.*mem_max.
void UdpTransport::SizeBuffer(int fd, int forced, int plain, int bytes) {
  if (bytes <= 0) return;
  if (setsockopt(fd, SOL_SOCKET, forced, &bytes, sizeof bytes) != 0) {
    setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof bytes);
  }
}

int UdpTransport::OpenUnicast(const TransportConfig& c, uint16_t port, std::string* what) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = c.interfaceIp;
  ucast_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (ucast_ < 0) return Fail("socket(unicast)", what);
  if (bind(ucast_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return Fail(port ? "bind(unicast, interface:port)" : "bind(unicast)", what);
  }
  SizeBuffer(ucast_, SO_RCVBUFFORCE, SO_RCVBUF, c.receiveBuffer);
  SizeBuffer(ucast_, SO_SNDBUFFORCE, SO_SNDBUF, c.sendBuffer);
  socklen_t len = sizeof addr;
  if (getsockname(ucast_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return Fail("getsockname", what);
  local_ = Endpoint{addr.sin_addr.s_addr, addr.sin_port};
  return 0;
}

// ---------------------------------------------------------------- sending

void UdpTransport::Queue(const uint8_t* p, size_t n, const Endpoint& to, bool lasting) {
  if (!sealer_) return QueueAsIs(p, n, to, lasting);
  uint8_t* slot = NextSlot();
  n = sealer_->Seal(p, n, slot);
  if (n == 0) { counters_[k_sendErrors]++; return; }
  Commit(slot, n, to);
}

void UdpTransport::QueueAsIs(const uint8_t* p, size_t n, const Endpoint& to, bool lasting) {
  uint8_t* slot = NextSlot();  // (a full batch goes out first, lasting or not)
  if (lasting) return Commit(p, n, to);
  std::memcpy(slot, p, n);
  Commit(slot, n, to);
}

// The next datagram's slot (a full batch goes out first).
uint8_t* UdpTransport::NextSlot() {
  if (sendCount_ == kBatch) Flush();
  return sendMem_.data() + size_t(sendCount_) * slotBytes_;
}

void UdpTransport::Commit(const uint8_t* p, size_t n, const Endpoint& to) {
  const int i = sendCount_++;
  sendIov_[i] = iovec{const_cast<uint8_t*>(p), n};
  sockaddr_in& a = sendTo_[i];
  a = sockaddr_in{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = to.ip;
  a.sin_port = to.port;
  sendMsgs_[i].msg_hdr = msghdr{};
  sendMsgs_[i].msg_hdr.msg_iov = &sendIov_[i];
  sendMsgs_[i].msg_hdr.msg_iovlen = 1;
  sendMsgs_[i].msg_hdr.msg_name = &a;
  sendMsgs_[i].msg_hdr.msg_namelen = sizeof a;
}

void UdpTransport::Flush() {
  int done = 0;
  while (done < sendCount_) {
    const int n = sendmmsg(ucast_, sendMsgs_ + done, sendCount_ - done, MSG_DONTWAIT);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      counters_[k_sendErrors]++;
      // The kernel would not take it: the datagram is in the retransmit log,
      // and a NAK or the next STATUS repairs it. Buffers full: so would the
      // rest be. Else (netfilter, no route, an error an earlier ICMP left on
      // the socket) it was this one's destination: the others still go.
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
        counters_[k_sendErrors] += sendCount_ - done - 1;
        break;
      }
      done++;
      continue;
    }
    for (int i = done; i < done + n; i++) counters_[k_bytesSent] += sendMsgs_[i].msg_len;
    counters_[k_datagramsSent] += n;
    done += n;
  }
  sendCount_ = 0;
}

// ---------------------------------------------------------------- receiving

int UdpTransport::Receive(int socket, uint64_t nowNs, Batch* out) {
  out->count = 0;
  for (int i = 0; i < kBatch; i++) {
    recvIov_[i] = iovec{recvSlot_[i], kMaxDatagram};
    recvMsgs_[i].msg_hdr = msghdr{};
    recvMsgs_[i].msg_hdr.msg_iov = &recvIov_[i];
    recvMsgs_[i].msg_hdr.msg_iovlen = 1;
    recvMsgs_[i].msg_hdr.msg_name = &recvFrom_[i];
    recvMsgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
  }
  const int n = recvmmsg(socket, recvMsgs_, kBatch, MSG_DONTWAIT, nullptr);
  if (n <= 0) return 0;
  counters_[k_datagramsReceived] += n;
  for (int i = 0; i < n; i++) {
    uint8_t* p = recvSlot_[i];
    const size_t len = recvMsgs_[i].msg_len;
    const Endpoint from{recvFrom_[i].sin_addr.s_addr, recvFrom_[i].sin_port};
    uint8_t** hold = pool_ ? &recvSlot_[i] : nullptr;
    counters_[k_bytesReceived] += len;
    if (!sealer_) {
      out->at[out->count++] = Received{p, len, from, hold};
      continue;
    }
    size_t plain = 0;
    const SealReject r = sealer_->Open(p, len, nowNs, &plain);
    if (r == SealReject::kAuth) counters_[k_rejectSeal]++;
    if (r == SealReject::kReplay) counters_[k_rejectReplay]++;
    if (r == SealReject::kNone) out->at[out->count++] = Received{p + kSealHeaderBytes, plain, from, hold};
  }
  return n;
}

}  // namespace troupe
