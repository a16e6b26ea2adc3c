// Test tool: seeded loss, duplication and reordering of received datagrams.
// It stands between the sockets and the core, a decorator of the receive
// path: each datagram the engine received is handed to Receive(), which
// decides its fate (dropped, held back, passed on once or twice), so the
// engine has no branch of its own for faults. Off unless a test asks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "reliability.h"
#include "stats.h"

namespace troupe {

struct InjectConfig {
  double loss = 0, duplicate = 0, reorder = 0;
  uint64_t seed = 1;
  bool enabled() const { return loss > 0 || duplicate > 0 || reorder > 0; }
};

class FaultInjector {
 public:
  static constexpr size_t kMaxDelayed = 64;  // datagrams held back at once; past it none is

  FaultInjector() = default;
  // `counters`: the engine's (k_injected*).
  FaultInjector(const InjectConfig& config, uint64_t* counters)
      : config_(config), enabled_(config.enabled()), counters_(counters), rng_(config.seed | 1) {}

  // A received datagram: `pass(p, n, from)` gets it, now, or twice, or later (Release), or never.
  template <class Pass>
  void Receive(const uint8_t* p, size_t n, const Endpoint& from, Pass&& pass) {
    if (!enabled_) return pass(p, n, from);
    if (Random() < config_.loss) { counters_[k_injectedLoss]++; return; }
    if (delayed_.size() < kMaxDelayed && Random() < config_.reorder) {
      counters_[k_injectedReorders]++;
      delayed_.emplace_back(std::vector<uint8_t>(p, p + n), from);
      return;
    }
    pass(p, n, from);
    if (Random() < config_.duplicate) {
      counters_[k_injectedDuplicates]++;
      pass(p, n, from);
    }
  }

  // The datagrams held back go in after the rest of their batch: they arrive late.
  template <class Pass>
  void Release(Pass&& pass) {
    if (delayed_.empty()) return;
    auto batch = std::move(delayed_);
    delayed_.clear();
    for (auto& d : batch) pass(d.first.data(), d.first.size(), d.second);
  }

 private:
  double Random() {
    rng_ ^= rng_ << 13; rng_ ^= rng_ >> 7; rng_ ^= rng_ << 17;
    return double(rng_ >> 11) / double(1ull << 53);
  }

  InjectConfig config_;
  bool enabled_ = false;
  uint64_t* counters_ = nullptr;
  uint64_t rng_ = 1;
  std::vector<std::pair<std::vector<uint8_t>, Endpoint>> delayed_;
};

}  // namespace troupe
