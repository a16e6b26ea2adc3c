// Test tool: seeded loss, duplication and reordering of received datagrams.
// A decorator of the transport (transport.h): it wraps the real one, passes
// everything through, and decides the fate of each datagram its Receive
// hands over (dropped, held back, passed on once or twice), so the engine
// has no branch of its own for faults. Installed only when a test asks.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <utility>
#include <vector>

#include "transport.h"

namespace troupe {

struct InjectConfig {
  double loss = 0, duplicate = 0, reorder = 0;
  uint64_t seed = 1;
  // Every datagram received is held this long first (a path with a round
  // trip: 2 × this); in order, up to kMaxDelayedBytes, past which it is lost.
  uint64_t delayNs = 0;
  bool enabled() const { return loss > 0 || duplicate > 0 || reorder > 0 || delayNs > 0; }
};

class FaultInjector final : public Transport {
 public:
  static constexpr size_t kMaxHeld = 64;  // datagrams held back at once; past it none is
  static constexpr size_t kMaxDelayedBytes = 64 << 20;  // delayed at once; past it lost (counted)

  // `counters`: the engine's (k_injected*).
  FaultInjector(std::unique_ptr<Transport> inner, const InjectConfig& config, uint64_t* counters)
      : inner_(std::move(inner)), config_(config), counters_(counters), rng_(config.seed | 1) {}

  int Open(const TransportConfig& c, std::string* what) override { return inner_->Open(c, what); }
  void Close() override { inner_->Close(); }
  std::array<int, kSockets> sockets() const override { return inner_->sockets(); }
  Endpoint local() const override { return inner_->local(); }
  void Send(const uint8_t* p, size_t n, const Endpoint* to) override { inner_->Send(p, n, to); }
  void SendLasting(const uint8_t* p, size_t n, const Endpoint* to) override { inner_->SendLasting(p, n, to); }
  void Flush() override { inner_->Flush(); }
  void ReceiveInto(DatagramPool* pool) override { inner_->ReceiveInto(pool); }
  void Learn(const Endpoint& member) override { inner_->Learn(member); }
  void Forget(const Endpoint& member) override { inner_->Forget(member); }

  int Receive(int socket, uint64_t nowNs, Batch* out) override;
  // What we held back (reordered, and delayed ones now due); the transport
  // we wrap holds nothing.
  void TakeHeld(uint64_t nowNs, Batch* out) override;
  // (Read by the engine's thread before it takes its lock: an atomic copy.)
  uint64_t NextDueNs() const override { return nextDue_.load(std::memory_order_relaxed); }

 private:
  double Random() {
    rng_ ^= rng_ << 13; rng_ ^= rng_ >> 7; rng_ ^= rng_ << 17;
    return double(rng_ >> 11) / double(1ull << 53);
  }

  std::unique_ptr<Transport> inner_;
  InjectConfig config_;
  uint64_t* counters_;
  uint64_t rng_;
  Batch arrived_;  // what the wrapped transport received
  // Copies of the datagrams held back, and of those taken last (the engine
  // may still be handing them to the core).
  std::vector<std::pair<std::vector<uint8_t>, Endpoint>> held_, taken_;
  struct Delayed {
    uint64_t due;
    std::vector<uint8_t> bytes;
    Endpoint from;
  };
  std::deque<Delayed> delayed_;  // oldest first
  size_t delayedBytes_ = 0;
  std::atomic<uint64_t> nextDue_{UINT64_MAX};
  void NoteDue() { nextDue_.store(delayed_.empty() ? UINT64_MAX : delayed_.front().due, std::memory_order_relaxed); }
};

}  // namespace troupe
