// The reliability core (reliability.h): what every member holds. Each STATUS
// updates the acks; the minimum over the view is stable (safe delivery, the
// log freed); datagrams kept for others are relayed to a member that misses them.

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "reliability.h"
#include "reliability_state.h"

namespace troupe {

void Core::OnStatus(Peer* peer, const StatusView& s, uint64_t nowNs) {
  // Our own STATUS, back by multicast loop: it tells our own receive window
  // where our stream ends, unless we do not receive our own messages at all.
  if (peer->index == selfIndex_ && !config_.receiveOwn) return;
  Window& w = peer->win;
  peer->lowestKept = s.lowestKept;
  // Seqs the sender no longer keeps cannot be repaired: skip them, counted.
  // Not with agreed membership (autoRemove off): there a member never skips
  // a message; one that fell that far behind was excluded from the view and
  // learns so from the membership protocol.
  if (config_.autoRemove && peer->index != selfIndex_ && w.next < s.lowestKept && w.held == 0) {
    const uint64_t skip = std::min(s.lowestKept, s.highestSent + 1) - w.next;
    Count(k_unrecoverable, skip);
    for (uint64_t seq = w.next; seq < w.next + skip && seq - w.next <= w.mask; seq++) w.at(seq) = Slot{};
    w.next += skip;
    if (w.highest < w.next - 1) w.highest = w.next - 1;
  }
  NoteHighest(w, s.highestSent, nowNs);
  // Their acks of every stream: ours frees our log; every sender's, with
  // everyone else's, tells what all members hold (safe delivery).
  if (peer->index == selfIndex_) return;
  for (uint32_t i = 0; i < s.ackCount; i++) {
    const uint64_t sender = Ld64(s.acks + i * 16);
    const uint64_t ack = Ld64(s.acks + i * 16 + 8);
    // Only streams we know (a STATUS could name any number of made-up
    // senders); acks are cumulative and come again with the next STATUS.
    Peer* p = FindPeer(sender);
    if (!p) continue;
    uint64_t& known = peer->acks[sender];
    if (ack <= known) continue;
    known = ack;
    if (sender == config_.self) {
      if (ack > peer->ackForUs) peer->ackForUs = ack;
      AdvanceStable();
      FollowAcks(nowNs);
    }
    AdvanceStreamStable(p);
  }
}

// The minimum over the members (not excluded, ourselves included) of what
// they acked of `sender`'s stream; the sink hears when it grows. In the
// same pass, what we keep of that stream to relay goes once every member we
// know holds it: not only the view's, but those being left out or not yet
// in the view (they ask us for what the sender freed: OnNak, Fetch) and the
// sender itself (its own datagrams come back to it like anyone's; one whose
// own do not acks all it sent: SendStatus). A member that has not acked the
// stream keeps all.
void Core::AdvanceStreamStable(Peer* sender) {
  // Ours: what we hold of it (of our own stream, all we sent, if our own
  // messages do not come back to us).
  uint64_t stable = sender->index == selfIndex_ && !config_.receiveOwn ? highestSent_ : sender->win.next - 1;
  uint64_t relayable = sender->index == selfIndex_ ? sender->win.next - 1 : ~uint64_t(0);
  for (auto& p : peers_) {
    if (!p || !p->active || p->index == selfIndex_) continue;
    auto it = p->acks.find(sender->id);
    const uint64_t acked = it == p->acks.end() ? 0 : it->second;
    relayable = std::min(relayable, acked);
    if (p->excluded || p.get() == sender) continue;  // (the sender holds its own stream)
    stable = std::min(stable, acked);
  }
  sender->kept.DropThrough(*kept_, relayable);
  Gauge(k_retainedBytes, kept_->held);
  if (stable <= sender->streamStable) return;
  sender->streamStable = stable;
  sink_->Stable(sender->index, stable);
}

void Core::Retain(Peer* p, const uint8_t* dg, size_t n, uint64_t first, uint16_t count, uint8_t** hold) {
  // One stream keeps up to kWindowGrowth × retainBytes (past it its oldest
  // go), all together kKeptShares × retainBytes and what the units hold:
  // past either, this stream gives up its oldest first, then the stream
  // keeping most. Every byte let go of before all held it is counted.
  // A large datagram in a unit of ours is kept where it lies, the transport
  // given a fresh unit in its place (when one is free; else it is copied).
  const uint64_t ceiling = config_.retainBytes * kWindowGrowth, bound = config_.retainBytes * kKeptShares;
  DatagramPool& pool = kept_->pool;
  uint8_t* unit = nullptr;
  uint8_t* fresh = nullptr;
  // (Not when a stream may keep less than a unit: then it is copied, as before.)
  if (hold && n >= KeptStream::kKeepInPlaceMin && DatagramPool::kBytes <= ceiling && pool.Owns(*hold) && (fresh = pool.Get())) unit = *hold;
  const size_t cost = unit ? DatagramPool::kBytes : n;
  size_t dropped = 0;
  bool kept = false;
  while (cost <= ceiling) {
    if (kept_->held + cost <= bound) {
      kept = p->kept.Add(*kept_, ceiling, first, count, dg, n, unit, &dropped);
      if (kept) break;
    }
    size_t d = p->kept.DropOldest(*kept_);
    if (!d) {
      Peer* most = nullptr;
      for (auto& q : peers_) if (q && q->active && (!most || q->kept.bytes() > most->kept.bytes())) most = q.get();
      if (!most || !(d = most->kept.DropOldest(*kept_))) break;
    }
    dropped += d;
  }
  if (unit && kept) {
    *hold = fresh;
    Count(k_keptInPlace);
  } else if (unit) {
    pool.Put(fresh);
  }
  if (!kept) dropped += n;
  if (dropped) Count(k_keptDropped, dropped);
  Gauge(k_retainedBytes, kept_->held);
}

DatagramPool* Core::receivePool() { return config_.retainBytes ? &kept_->pool : nullptr; }

// Another member misses seqs of `target` and asks us: send what we kept,
// marked relayed, to it alone.
void Core::Relay(Peer* asker, const NakView& k, uint64_t nowNs) {
  Peer* p = FindPeer(k.target);
  if (!p) return;
  const Endpoint to = asker->endpoint;
  for (const KeptStream::Entry& d : p->kept.entries()) {
    const uint64_t last = d.first + d.count - 1;
    for (uint32_t i = 0; i < k.rangeCount; i++) {
      const uint64_t a = Ld64(k.ranges + i * 16), b = Ld64(k.ranges + i * 16 + 8);
      if (d.first > b || last < a) continue;
      if (!SpendXmit(asker, d.length, nowNs)) return;
      std::memcpy(scratch_.data(), d.data, d.length);
      St16(scratch_.data() + 34, kDataRetransmit | kDataRelayed);
      Count(k_relayed);
      sink_->Send(scratch_.data(), d.length, &to);
      break;
    }
  }
}

void Core::Fetch(uint64_t sender, uint64_t holder, const uint64_t* ranges, size_t count) {
  Peer* h = FindPeer(holder);
  if (!h || h->index == selfIndex_ || h->endpoint.port == 0) return;
  uint8_t* p = scratch_.data();
  size_t done = 0;
  while (done < count) {
    const size_t batch = std::min(count - done, kMaxNakRanges);
    const size_t len = kNakFixedBytes + batch * 16;
    EncodeHeader(p, kNak, config_.group, config_.self, 0, uint32_t(len));
    St64(p + 24, sender);
    St16(p + 32, uint16_t(batch));
    St16(p + 34, 0);
    St32(p + 36, 0);
    for (size_t i = 0; i < batch; i++) {
      St64(p + kNakFixedBytes + i * 16, ranges[(done + i) * 2]);
      St64(p + kNakFixedBytes + i * 16 + 8, ranges[(done + i) * 2 + 1]);
    }
    Count(k_naksSent);
    sink_->Send(p, len, &h->endpoint);
    done += batch;
  }
}

}  // namespace troupe
