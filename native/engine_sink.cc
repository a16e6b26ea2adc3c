// The engine as the core's Sink (engine.h): what the core sends goes into
// the sendmmsg batch (sealed, fanned out when unicast-only); what it delivers
// and reports goes into the inbound ring as records (records.h), and JS is
// woken once per batch. Everything here runs under the engine's mutex.
#include "engine.h"
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstring>

namespace troupe {

// ---------------------------------------------------------------- Sink

void Engine::Send(const uint8_t* p, size_t n, const Endpoint* to) {
  if (to || !config_.transport.unicastOnly) {
    SendTo(p, n, to ? *to : transport_.group());
    return;
  }
  // No multicast: the same datagram to every member. Sealed once (one
  // counter), then copied.
  if (sealer_) {
    n = sealer_->Seal(p, n, fanoutScratch_.data());
    if (n == 0) { counters_[k_sendErrors]++; return; }
    p = fanoutScratch_.data();
  }
  for (const Endpoint& e : fanout_.targets()) SendTo(p, n, e);
}

// Queues one datagram (sealed here unless it already is) for sendmmsg.
void Engine::SendTo(const uint8_t* p, size_t n, const Endpoint& to) {
  if (sendCount_ == kBatch) SendOut();
  const int i = sendCount_++;
  if (sealer_ && p != fanoutScratch_.data()) {
    n = sealer_->Seal(p, n, static_cast<uint8_t*>(sendIov_[i].iov_base));
    if (n == 0) { sendCount_--; counters_[k_sendErrors]++; return; }
  } else {
    std::memcpy(sendIov_[i].iov_base, p, n);
  }
  sendIov_[i].iov_len = n;
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

void Engine::SendOut() {
  int done = 0;
  while (done < sendCount_) {
    const int n = sendmmsg(transport_.unicastFd(), sendMsgs_ + done, sendCount_ - done, MSG_DONTWAIT);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      // The kernel would not take it (buffer full, no route): the datagram is
      // in the retransmit log and a NAK or the next STATUS repairs it.
      counters_[k_sendErrors] += sendCount_ - done;
      break;
    }
    for (int i = done; i < done + n; i++) counters_[k_bytesSent] += sendMsgs_[i].msg_len;
    counters_[k_datagramsSent] += n;
    done += n;
  }
  sendCount_ = 0;
}

bool Engine::FlushControl() {
  while (!control_.empty()) {
    const auto& rec = control_.front();
    const uint16_t type = Ld16(rec.data());
    uint8_t* p = inbound_.Reserve(type, 0, rec.size() - 2);
    if (!p) return false;
    std::memcpy(p, rec.data() + 2, rec.size() - 2);
    inbound_.Commit();
    inboundDirty_ = true;
    control_.pop_front();
  }
  return true;
}

bool Engine::Deliver(uint32_t peer, uint64_t seq, uint32_t view, uint8_t order, uint8_t frag, const uint8_t* data, size_t n) {
  if (!control_.empty() && !FlushControl()) return false;
  uint8_t* p = inbound_.Reserve(kRec_message, uint16_t(order | frag << 4), MessageRecordBytes(n));
  if (!p) return false;
  EncodeMessage(p, seq, peer, view, data, n);
  inbound_.Commit();
  inboundDirty_ = true;
  return true;
}

void Engine::PeerUp(uint32_t peer, uint64_t id, const char* name, size_t nameLen) {
  if (config_.transport.unicastOnly && core_) fanout_.Learn(core_->EndpointOf(peer));
  std::vector<uint8_t> rec(2 + PeerUpRecordBytes(nameLen));
  St16(rec.data(), kRec_peerUp);
  EncodePeerUp(rec.data() + 2, peer, id, name, nameLen);
  control_.push_back(std::move(rec));
  FlushControl();
}

void Engine::PeerDown(uint32_t peer, uint64_t id, PeerDownReason why) {
  if (config_.transport.unicastOnly && core_ && why != PeerDownReason::kSilent) fanout_.Forget(core_->EndpointOf(peer));
  std::vector<uint8_t> rec(2 + kRecPeerDownBytes);
  St16(rec.data(), kRec_peerDown);
  EncodePeerDown(rec.data() + 2, peer, id, uint32_t(why));
  control_.push_back(std::move(rec));
  FlushControl();
}

void Engine::Control(uint64_t sender, const uint8_t* p, size_t n) {
  if (control_.size() >= kMaxQueuedControl) { counters_[k_controlDropped]++; return; }
  std::vector<uint8_t> rec(2 + ControlRecordBytes(n));
  St16(rec.data(), kRec_control);
  EncodeControl(rec.data() + 2, sender, p, n);
  control_.push_back(std::move(rec));
  FlushControl();
}

void Engine::Stable(uint32_t peer, uint64_t seq) {
  std::vector<uint8_t> rec(2 + kRecStableBytes);
  St16(rec.data(), kRec_stable);
  EncodeStable(rec.data() + 2, peer, seq);
  control_.push_back(std::move(rec));
  FlushControl();
}

void Engine::Slow(uint32_t peer, uint64_t id, uint64_t lag) {
  std::vector<uint8_t> rec(2 + kRecSlowBytes);
  St16(rec.data(), kRec_slow);
  EncodeSlow(rec.data() + 2, peer, id, lag);
  control_.push_back(std::move(rec));
  FlushControl();
}

void Engine::PublishInbound() {
  if (!inboundDirty_) return;
  inboundDirty_ = false;
  inbound_.Publish();
  // One wake-up per batch: JS clears `wake` before it drains, so a record
  // published after its last look always finds wake == 0 and asks again.
  if (inView_.wake().exchange(1, std::memory_order_acq_rel) == 0) {
    counters_[k_wakeups]++;
    wake_(wakeCtx_);
  }
}

}  // namespace troupe
