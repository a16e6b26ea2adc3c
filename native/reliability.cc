// The reliability core (reliability.h): construction, peers, timers and the
// membership calls. Sending, receiving and stability are in reliability_*.cc.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "reliability.h"
#include "reliability_state.h"

namespace troupe {

Core::Core(const CoreConfig& config, Sink* sink, uint64_t* counters, uint64_t nowNs)
    : config_(config), sink_(sink), counters_(counters), rng_(config.seed | 1) {
  window_ = baseWindow_ = sizeWindow_ = pathWindow_ = std::max<size_t>(config_.windowBytes, 4 * size_t(config_.datagramSize));
  logCapacity_ = window_ * kWindowGrowth;
  // As many entries as datagrams of one message of 64 bytes fill the
  // smallest window (a larger one is for large messages: large datagrams).
  logSlots_ = std::max<size_t>(4, window_ / (kDataHeaderBytes + kMsgHeaderBytes + 64));
  // Pages untouched until used: the window costs memory only as far as it fills.
  logMem_ = std::unique_ptr<uint8_t, Unmap>(MapMemory(logCapacity_, Touch::kLater), Unmap{logCapacity_});
  if (!logMem_) std::abort();  // (as new[] did: no address space left for the window)
  kept_.reset(new KeptMemory(config_.retainBytes * kKeptShares, DatagramPool::kReceiveUnits + DatagramPool::kPinnedUnits));
  log_.resize(logSlots_);
  scratch_.resize(kMaxDatagram);
  lastTimerNs_ = nowNs;
  nextStatusNs_ = nowNs;  // announce ourselves at once
  nextDeadline_ = nowNs;
  // We are always our own first peer; our datagrams come back by multicast loop.
  Peer* self = AddPeer(config_.self, config_.name.data(), config_.name.size(), Endpoint{}, 0, nowNs);
  selfIndex_ = self->index;
  SetWindow();
}

Core::~Core() {
  for (auto& p : peers_) {
    if (!p) continue;
    for (Slot& s : p->win.slots) std::free(s.data);
  }
}

uint64_t Core::Jitter(uint64_t base) {
  rng_ ^= rng_ << 13; rng_ ^= rng_ >> 7; rng_ ^= rng_ << 17;
  return base / 2 + (base ? rng_ % base : 0);  // uniform in [base/2, 3*base/2)
}

// ---------------------------------------------------------------- peers

Core::Peer* Core::FindPeer(uint64_t id) {
  if (lastPeer_ && lastPeer_->id == id && lastPeer_->active) return lastPeer_;
  auto it = byId_.find(id);
  if (it == byId_.end()) return nullptr;
  lastPeer_ = peers_[it->second].get();
  return lastPeer_;
}

Core::Peer* Core::AddPeer(uint64_t id, const char* name, size_t nameLen, const Endpoint& from,
                          uint64_t highestSent, uint64_t nowNs) {
  uint32_t index = 0;
  while (index < peers_.size() && peers_[index] && peers_[index]->active) index++;
  if (index == kMaxMembers) return nullptr;
  if (index == peers_.size()) peers_.emplace_back();
  auto p = std::make_unique<Peer>();
  p->id = id;
  p->index = index;
  p->active = true;
  p->endpoint = from;
  p->lastHeardNs = nowNs;
  p->name.assign(name, nameLen);
  // A new peer's stream is joined at its current end: we deliver what it
  // sends from now on.
  // Until its first STATUS about us arrives, a new member holds our stability
  // where it is: we cannot know what it has.
  p->ackForUs = stable_;
  p->win.next = highestSent + 1;
  p->win.highest = highestSent;
  p->win.mask = config_.receiveSlots - 1;
  peers_[index] = std::move(p);
  byId_[id] = index;
  sink_->PeerUp(index, id, name, nameLen);
  return peers_[index].get();
}

// A member holds our window when the window is full (a send was refused
// since the last timer, or no slot is free) and its ack is the one that
// stability waits for.
void Core::CheckSlow(uint64_t nowNs) {
  size_t at;
  const bool full = windowHit_ || !LogRoom(&at);
  windowHit_ = false;
  for (auto& p : peers_) {
    if (!p || !p->active || p->index == selfIndex_) continue;
    if (!full || p->excluded || p->ackForUs > stable_) {
      p->behindSinceNs = 0;
      p->slowReported = false;
      continue;
    }
    if (p->behindSinceNs == 0) p->behindSinceNs = nowNs;
    if (config_.slowTimeoutNs && !p->slowReported && nowNs - p->behindSinceNs >= config_.slowTimeoutNs) {
      p->slowReported = true;
      Count(k_slowReceivers);
      sink_->Slow(p->index, p->id, highestSent_ - std::min(highestSent_, p->ackForUs));
    }
  }
  if (config_.slowTimeoutNs && full) ScheduleAt(nowNs + std::max<uint64_t>(config_.slowTimeoutNs / 4, 1'000'000));
}

void Core::Lags(std::vector<PeerLag>* out, uint64_t nowNs) const {
  out->clear();
  for (auto& p : peers_) {
    if (!p || !p->active || p->index == selfIndex_) continue;
    PeerLag l;
    l.id = p->id;
    l.acked = p->ackForUs;
    l.lag = highestSent_ - std::min(highestSent_, p->ackForUs);
    l.behindNs = p->behindSinceNs ? nowNs - p->behindSinceNs : 0;
    l.silentNs = nowNs - std::min(nowNs, p->lastHeardNs);
    l.excluded = p->excluded;
    l.at = p->endpoint;
    out->push_back(l);
  }
}

Endpoint Core::EndpointOf(uint32_t index) const {
  return index < peers_.size() && peers_[index] ? peers_[index]->endpoint : Endpoint{};
}

Endpoint Core::EndpointOfId(uint64_t id) {
  Peer* p = FindPeer(id);
  return p ? p->endpoint : Endpoint{};
}

void Core::RemovePeer(Peer* p, PeerDownReason why) {
  for (Slot& s : p->win.slots) { std::free(s.data); s = Slot{}; }
  p->kept.Clear(*kept_);
  Gauge(k_retainedBytes, kept_->held);
  if (p->win.blocked) heldForSink_--;
  Gauge(k_heldMessages, counters_[k_heldMessages] - p->win.held);
  p->active = false;
  byId_.erase(p->id);
  for (auto& other : peers_) if (other && other->active) other->acks.erase(p->id);
  if (lastPeer_ == p) lastPeer_ = nullptr;
  sink_->PeerRemoved(p->index);
  sink_->PeerDown(p->index, p->id, why);
  AdvanceStable();  // it no longer holds our window back
}

uint64_t Core::StatusIntervalNs() const {
  size_t members = 0;
  for (const auto& p : peers_) members += p && p->active;
  if (members <= kStatusFanIn) return config_.statusIntervalNs;
  const uint64_t grown = config_.statusIntervalNs * members / kStatusFanIn;
  return std::max(config_.statusIntervalNs, std::min(grown, config_.suspectTimeoutNs / kHeartbeatsPerSuspect));
}

void Core::OnTimer(uint64_t nowNs) {
  // If this thread itself was stopped (SIGSTOP, a debugger, an overloaded
  // machine) for longer than half the suspicion timeout, the silence we see
  // is ours: give everyone a fresh start instead of suspecting them all.
  const bool weStalled = nowNs - lastTimerNs_ > config_.suspectTimeoutNs / 2;
  lastTimerNs_ = nowNs;
  nextDeadline_ = kNever;
  if (config_.client) return;  // (no streams, no STATUS, no suspicion)
  if (nowNs >= nextStatusNs_) {
    SendStatus(nowNs);
    nextStatusNs_ = nowNs + StatusIntervalNs();
  }
  ScheduleAt(nextStatusNs_);
  // Our own receive window (and, alone in a group, nothing else) moves
  // stability without any STATUS from others; so does a member leaving.
  AdvanceStable();
  for (auto& p : peers_) if (p && p->active) AdvanceStreamStable(p.get());
  CheckSlow(nowNs);
  for (auto& p : peers_) {
    if (!p || !p->active) continue;
    if (weStalled) p->lastHeardNs = nowNs;
    if (p->index != selfIndex_ && nowNs - p->lastHeardNs > config_.suspectTimeoutNs) {
      if (config_.autoRemove) {
        Count(k_suspicions);
        RemovePeer(p.get(), PeerDownReason::kSilent);
        continue;
      }
      if (!p->suspected) {
        Count(k_suspicions);
        p->suspected = true;
        sink_->PeerDown(p->index, p->id, PeerDownReason::kSilent);
      }
    }
    SendNaks(p.get(), nowNs);
    if (p->win.nakCheckAt != kNever) ScheduleAt(p->win.nakCheckAt);
  }
}

bool Core::SendControl(const uint8_t* payload, size_t n, uint64_t to, uint64_t nowNs) {
  if (n + kHeaderBytes > config_.datagramSize) return false;
  uint8_t* p = scratch_.data();
  EncodeHeader(p, kControl, config_.group, config_.self, 0, uint32_t(n + kHeaderBytes));
  if (n) std::memcpy(p + kHeaderBytes, payload, n);
  Peer* peer = to ? FindPeer(to) : nullptr;
  const Endpoint* at = peer && peer->index != selfIndex_ && peer->endpoint.port != 0 ? &peer->endpoint : nullptr;
  if (!peer && to) {
    auto c = contacts_.find(to);
    if (c != contacts_.end()) at = &c->second.at;
  }
  Count(k_controlSent);
  sink_->Send(p, n + kHeaderBytes, at);
  return true;
}

void Core::Exclude(uint64_t id, bool excluded) {
  Peer* p = FindPeer(id);
  if (!p || p->index == selfIndex_ || p->excluded == excluded) return;
  p->excluded = excluded;
  // Counted again: it holds stability from where it acked (what was freed
  // meanwhile, it fetches from other members in the flush).
  AdvanceStable();
}

void Core::Advance(uint64_t id, uint64_t seq) {
  Peer* p = FindPeer(id);
  if (!p) return;
  Window& w = p->win;
  while (w.next < seq) {
    Slot& s = w.at(w.next);
    if (s.state != kEmpty) {
      std::free(s.data);
      w.held--;
      counters_[k_heldMessages]--;
    }
    s = Slot{};
    w.next++;
  }
  if (w.highest < w.next - 1) w.highest = w.next - 1;
  if (w.held) DrainHeld(p);
}

void Core::Forget(uint64_t id) {
  Peer* p = FindPeer(id);
  if (!p || p->index == selfIndex_) return;
  RemovePeer(p, PeerDownReason::kForgotten);
}

void Core::Leave(uint64_t nowNs) {
  if (config_.client) return;  // (never in a view)
  FlushData(nowNs);
  uint8_t* p = scratch_.data();
  EncodeHeader(p, kLeave, config_.group, config_.self, 0, kHeaderBytes);
  sink_->Send(p, kHeaderBytes, nullptr);
}

}  // namespace troupe
