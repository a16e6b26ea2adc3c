// Test tool: seeded loss, duplication and reordering of received datagrams.
// A decorator of the transport (transport.h): it wraps the real one, passes
// everything through, and decides the fate of each datagram its Receive
// hands over (dropped, held back, passed on once or twice), so the engine
// has no branch of its own for faults. Installed only when a test asks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "transport.h"

namespace troupe {

struct InjectConfig {
  double loss = 0, duplicate = 0, reorder = 0;
  uint64_t seed = 1;
  bool enabled() const { return loss > 0 || duplicate > 0 || reorder > 0; }
};

class FaultInjector final : public Transport {
 public:
  static constexpr size_t kMaxHeld = 64;  // datagrams held back at once; past it none is

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
  void Learn(const Endpoint& member) override { inner_->Learn(member); }
  void Forget(const Endpoint& member) override { inner_->Forget(member); }

  int Receive(int socket, uint64_t nowNs, Batch* out) override;
  // What we held back; the transport we wrap holds nothing.
  void TakeHeld(Batch* out) override;

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
};

}  // namespace troupe
