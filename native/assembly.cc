// Messages put together at the receiver (assembly.h).
#include "assembly.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace troupe {
namespace {

// Below this a message's bytes are malloc'd (and grown by realloc); past it
// they are mappings of a few sizes, kept for reuse when JS lets go of them.
// (At 64 KiB, messages of 64 KiB were malloc'd: glibc gave their pages back
// at each free and faulted them in again, 395 against 498 MB/s.)
constexpr size_t kSmallBytes = 16 << 10;
// Mappings kept for reuse, at most (past it they are unmapped). Mapping and
// unmapping per message costs more than the message's copy: every fresh page
// faults, and every unmap stops the process's other threads to flush their
// TLBs (on this project's VMs, most of a receiver's time).
constexpr size_t kPoolBytes = 64 << 20;

size_t PageSize() {
  static const size_t page = size_t(sysconf(_SC_PAGESIZE));
  return page;
}

// The mapping size for at least n bytes: four sizes per doubling (so at most
// a quarter more than asked), whole pages.
size_t MappedSize(size_t n) {
  size_t octave = kSmallBytes;
  while (octave * 2 <= n) octave *= 2;
  const size_t step = octave / 4;
  const size_t size = (n + step - 1) / step * step;
  return (size + PageSize() - 1) & ~(PageSize() - 1);
}

// Process-wide: a mapping may be given back (JS's finalizer) after the engine
// that made it is gone.
class MappingPool {
 public:
  uint8_t* Get(size_t size) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        uint8_t* p = it->second.back();
        it->second.pop_back();
        bytes_ -= size;
        reused_++;
        return p;
      }
      mapped_++;
    }
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    return p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
  }
  void Put(uint8_t* p, size_t size) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (bytes_ + size <= kPoolBytes) {
        free_[size].push_back(p);
        bytes_ += size;
        return;
      }
    }
    munmap(p, size);
  }
  MessageMemory Counts() {
    std::lock_guard<std::mutex> lock(mu_);
    return MessageMemory{mapped_, reused_, bytes_};
  }

 private:
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<uint8_t*>> free_;  // by mapping size
  size_t bytes_ = 0;
  uint64_t mapped_ = 0, reused_ = 0;
};

MappingPool& Pool() {
  static MappingPool* pool = new MappingPool;  // (never destroyed: finalizers may run at exit)
  return *pool;
}

}  // namespace

bool MessageBytes::Reserve(size_t more, size_t hint) {
  const size_t need = std::max(size + more, hint);
  if (need <= capacity) return true;
  if (!mapped && need <= kSmallBytes) {
    const size_t grown = std::min(kSmallBytes, std::max({need, capacity * 2, size_t(4096)}));
    void* p = std::realloc(data, grown);
    if (!p) return false;
    data = static_cast<uint8_t*>(p);
    capacity = grown;
    return true;
  }
  const size_t grown = MappedSize(std::max(need, capacity + capacity / 2));
  uint8_t* p = Pool().Get(grown);
  if (!p) return false;
  if (size) std::memcpy(p, data, size);
  Free(data, FreeHint());
  data = p;
  capacity = grown;
  mapped = true;
  return true;
}

void MessageBytes::Append(const uint8_t* p, size_t n) {
  if (n) std::memcpy(data + size, p, n);
  size += n;
}

MessageMemory MessageMemoryCounts() { return Pool().Counts(); }

void MessageBytes::Free(uint8_t* data, size_t hint) {
  if (!data) return;
  if (hint) Pool().Put(data, hint);
  else std::free(data);
}

Assembler::~Assembler() {
  for (Partial& p : partial_) p.bytes.Release();
  for (auto& [handle, bytes] : parked_) bytes.Release();
}

Assembler::Step Assembler::Plan(uint32_t peer, uint8_t frag, size_t n) {
  Partial* p = At(peer);
  const bool begun = p && p->active;
  if (frag == kFrag_first) return begun ? Step::kDropped : Step::kKept;
  if (!begun) return Step::kDropped;  // nothing begun: a fragment out of its run
  if (p->bytes.size + n > maxMessage_) return Step::kDropped;
  if (!p->failed && !p->bytes.Reserve(n)) Fail(*p);
  if (frag != kFrag_last) return Step::kKept;
  return p->failed ? Step::kDropped : Step::kWhole;
}

Assembler::Outcome Assembler::Add(uint32_t peer, uint64_t seq, uint32_t view, uint8_t frag, const uint8_t* data, size_t n) {
  Outcome o;
  if (peer >= partial_.size()) partial_.resize(peer + 1);
  Partial& p = partial_[peer];
  if (frag == kFrag_first) {
    if (p.active) {
      // Another message was begun and never ended: it goes.
      o = Outcome{Step::kDropped, p.first, p.last, p.view, {}};
      dropped_++;
      End(p);
    }
    p.active = true;
    p.failed = false;
    p.first = p.last = seq;
    p.view = view;
    if (p.bytes.Reserve(n, p.hint)) p.bytes.Append(data, n);
    else Fail(p);
    assembling_ += p.bytes.size;
    return o;
  }
  if (!p.active) {
    dropped_++;
    return Outcome{Step::kDropped, seq, seq, view, {}};
  }
  if (p.bytes.size + n > maxMessage_) {
    o = Outcome{Step::kDropped, p.first, seq, p.view, {}};
    dropped_++;
    End(p);
    return o;
  }
  p.last = seq;
  if (!p.failed) {  // (Plan made the room)
    p.bytes.Append(data, n);
    assembling_ += n;
  }
  if (frag != kFrag_last) return o;
  if (p.failed) {
    o = Outcome{Step::kDropped, p.first, seq, p.view, {}};
    dropped_++;
  } else {
    o = Outcome{Step::kWhole, p.first, seq, p.view, p.bytes};
    p.hint = p.bytes.size;
    assembling_ -= p.bytes.size;
    p.bytes = MessageBytes{};  // (handed over)
  }
  End(p);
  return o;
}

void Assembler::Fail(Partial& p) {
  assembling_ -= p.bytes.size;
  p.bytes.Release();
  p.failed = true;
}

void Assembler::End(Partial& p) {
  Fail(p);  // (its bytes go)
  p.active = p.failed = false;
}

void Assembler::Forget(uint32_t peer) {
  Partial* p = At(peer);
  if (p && p->active) End(*p);
}

uint64_t Assembler::Park(MessageBytes bytes) {
  std::lock_guard<std::mutex> lock(parkMu_);
  const uint64_t handle = nextHandle_++;
  parkedBytes_.fetch_add(bytes.size, std::memory_order_relaxed);
  parked_.emplace(handle, bytes);
  return handle;
}

bool Assembler::Take(uint64_t handle, MessageBytes* out) {
  std::lock_guard<std::mutex> lock(parkMu_);
  auto it = parked_.find(handle);
  if (it == parked_.end()) return false;
  *out = it->second;
  parked_.erase(it);
  parkedBytes_.fetch_sub(out->size, std::memory_order_relaxed);
  return true;
}

}  // namespace troupe
