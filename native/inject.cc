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
    const int copies = Random() < config_.duplicate ? 2 : 1;
    if (copies == 2) counters_[k_injectedDuplicates]++;
    for (int c = 0; c < copies; c++) {
      if (config_.delayNs == 0) { out->at[out->count++] = d; continue; }
      if (delayedBytes_ + d.size > kMaxDelayedBytes) { counters_[k_injectedLoss]++; continue; }
      delayed_.push_back(Delayed{nowNs + config_.delayNs, std::vector<uint8_t>(d.data, d.data + d.size), d.from});
      delayedBytes_ += d.size;
    }
  }
  NoteDue();
  return n;
}

void FaultInjector::TakeHeld(uint64_t nowNs, Batch* out) {
  taken_.clear();
  taken_.swap(held_);
  // Delayed ones now due, as many as the batch holds past the reordered.
  while (!delayed_.empty() && delayed_.front().due <= nowNs && taken_.size() < size_t(2 * kBatch)) {
    Delayed& d = delayed_.front();
    delayedBytes_ -= d.bytes.size();
    taken_.emplace_back(std::move(d.bytes), d.from);
    delayed_.pop_front();
  }
  NoteDue();
  out->count = 0;
  for (const auto& d : taken_) out->at[out->count++] = Received{d.first.data(), d.first.size(), d.second};
}

}  // namespace troupe
