// The engine as the core's Sink (engine.h): what the core sends goes to the
// transport (transport.h), which batches it; what it delivers and reports
// goes into the inbound ring as records (records.h), and JS is woken once
// per batch. Everything here runs under the engine's mutex.
#include <cstring>

#include "engine.h"
#include "datagram_pool.h"

namespace troupe {

// Below this a message's bytes are copied into its record: a reference
// (messageAt) is as large, and JS's copy of it costs a lookup more.
constexpr size_t kReferenceFrom = 64;

void Engine::Send(const uint8_t* p, size_t n, const Endpoint* to) { transport_->Send(p, n, to); }
// (DrainOutbound flushes the transport before it submits: the log's bytes are still there.)
void Engine::SendLasting(const uint8_t* p, size_t n, const Endpoint* to) { transport_->SendLasting(p, n, to); }

bool Engine::FlushControl() {
  while (!control_.empty()) {
    const auto& rec = control_.front();
    const uint16_t type = Ld16(rec.data());
    uint8_t* p = inbound_.Reserve(type, 0, rec.size() - 2);
    if (!p) return false;
    std::memcpy(p, rec.data() + 2, rec.size() - 2);
    inbound_.Commit();
    skipRun_.End();
    inboundDirty_ = true;
    control_.pop_front();
  }
  return true;
}

bool Engine::Deliver(uint32_t peer, uint64_t seq, uint32_t view, uint8_t order, uint8_t frag, const uint8_t* data, size_t n) {
  if (!control_.empty() && !FlushControl()) return false;
  if (filter_ && filter_->Drops(order, frag, data, n)) {
    // Nobody here wants it: its seq joins the run of the last record, or starts one.
    if (!skipRun_.Extend(inView_.data(), peer, view, seq)) {
      uint8_t* p = inbound_.Reserve(kRec_skipped, 0, kRecSkippedBytes);
      if (!p) return false;
      EncodeSkipped(p, peer, view, seq, seq);
      inbound_.Commit();
      inboundDirty_ = true;
      skipRun_.Start(size_t(p - inView_.data()), peer, view, seq);
    }
    counters_[k_subjectsSkipped]++;
    return true;
  }
  if (frag != kFrag_whole) {
    // A fragment: into its message's buffer; a record only when the message
    // is whole (or dropped).
    bool reserved = false;
    auto reserve = [&](uint16_t type, uint16_t flags, size_t payload) {
      uint8_t* r = inbound_.Reserve(type, flags, payload);
      reserved = r != nullptr;
      return r;
    };
    if (!DeliverFragment(assembler_, reserve, peer, seq, view, order, frag, data, n)) return false;
    if (reserved) {
      inbound_.Commit();
      inboundDirty_ = true;
      skipRun_.End();
    }
    counters_[k_assemblyBytes] = assembler_.assemblingBytes();
    counters_[k_assemblyDropped] = assembler_.dropped();
    return true;
  }
  // Its bytes stay in the unit they were received into, if it is pinned (Engine::Pin); else copied in.
  const bool reference = pinning_ && n >= kReferenceFrom && data >= pinning_ && data + n <= pinning_ + DatagramPool::kBytes;
  const uint16_t flags = uint16_t(order | frag << 4);
  uint8_t* p = reference ? inbound_.Reserve(kRec_messageAt, flags, kRecMessageAtBytes) : inbound_.Reserve(kRec_message, flags, MessageRecordBytes(n));
  if (!p) return false;
  if (reference) EncodeMessageAt(p, seq, peer, view, pool_->OffsetOf(data), uint32_t(n));
  else EncodeMessage(p, seq, peer, view, data, n);
  inbound_.Commit();
  if (reference) {
    pinUsed_ = true;
    pinEnd_ = inbound_.tail();
    counters_[k_messagesReferenced]++;
  }
  inboundDirty_ = true;
  skipRun_.End();
  return true;
}

void Engine::SetSubjects(const std::vector<std::string>* patterns) {
  std::lock_guard<std::mutex> lock(mu_);
  filter_ = patterns ? std::make_unique<SubjectFilter>(*patterns) : nullptr;
}

void Engine::PeerUp(uint32_t peer, uint64_t id, const char* name, size_t nameLen) {
  if (core_) transport_->Learn(core_->EndpointOf(peer));
  std::vector<uint8_t> rec(2 + PeerUpRecordBytes(nameLen));
  St16(rec.data(), kRec_peerUp);
  EncodePeerUp(rec.data() + 2, peer, id, name, nameLen);
  control_.push_back(std::move(rec));
  FlushControl();
}

void Engine::PeerDown(uint32_t peer, uint64_t id, PeerDownReason why) {
  // A silent member stays a target: it may be heard from again.
  if (core_ && why != PeerDownReason::kSilent) transport_->Forget(core_->EndpointOf(peer));
  std::vector<uint8_t> rec(2 + kRecPeerDownBytes);
  St16(rec.data(), kRec_peerDown);
  EncodePeerDown(rec.data() + 2, peer, id, uint32_t(why));
  control_.push_back(std::move(rec));
  FlushControl();
}

void Engine::PeerRemoved(uint32_t peer) {
  assembler_.Forget(peer);
  counters_[k_assemblyBytes] = assembler_.assemblingBytes();
}

bool Engine::TakeMessage(uint64_t handle, MessageBytes* out) { return assembler_.Take(handle, out); }

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
  skipRun_.End();  // (JS may read it from now on)
  inbound_.Publish();
  // One wake-up per batch: JS clears `wake` before it drains, so a record
  // published after its last look always finds wake == 0 and asks again.
  if (inView_.wake().exchange(1, std::memory_order_acq_rel) == 0) {
    counters_[k_wakeups]++;
    wake_(wakeCtx_);
  }
}

}  // namespace troupe
