#include "inject.h"

#include "stats.h"

namespace troupe {

int FaultInjector::Receive(int socket, uint64_t nowNs, Batch* out) {
  const int n = inner_->Receive(socket, nowNs, &arrived_);
  out->count = 0;
  for (int i = 0; i < arrived_.count; i++) {
    const Received& d = arrived_.at[i];
    if (Random() < config_.loss) { counters_[k_injectedLoss]++; continue; }
    if (held_.size() < kMaxHeld && Random() < config_.reorder) {
      counters_[k_injectedReorders]++;
      held_.emplace_back(std::vector<uint8_t>(d.data, d.data + d.size), d.from);
      continue;
    }
    out->at[out->count++] = d;
    if (Random() < config_.duplicate) {
      counters_[k_injectedDuplicates]++;
      out->at[out->count++] = d;
    }
  }
  return n;
}

void FaultInjector::TakeHeld(Batch* out) {
  taken_.clear();
  taken_.swap(held_);
  out->count = 0;
  for (const auto& d : taken_) out->at[out->count++] = Received{d.first.data(), d.first.size(), d.second};
}

}  // namespace troupe
