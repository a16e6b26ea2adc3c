// Messages put together at the receiver (assembly.h).
#include "assembly.h"
#include "mapped_memory.h"

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
// they are blocks of a few sizes (MappingPool), kept for reuse when JS lets go
// of them.
// (At 64 KiB, messages of 64 KiB were malloc'd: glibc gave their pages back
// at each free and faulted them in again, 395 against 498 MB/s.)
constexpr size_t kSmallBytes = 16 << 10;
// Bytes kept for reuse, at most (past it memory is unmapped). Mapping and
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

// Messages' memory, process-wide (a block may be given back by JS's
// finalizer after the engine that took it is gone). Sizes up to kSlabMax
// are blocks of 2 MiB slabs, one size per slab, that the kernel may back
// with huge pages (mapped_memory.h): the copy into a message then misses the
// TLB once per 2 MiB instead of once per 4 KiB (64 KiB messages, 1 -> 3:
// 1,349 against 1,257 MB/s per receiver with the engine's other buffers on
// huge pages either way, a trial arena then). Larger sizes are mappings of
// their own. Both are kept for reuse, the last given back first, while no
// more than kPoolBytes wait; past that a slab is unmapped once none of its
// blocks is in use (a block JS keeps holds its slab: at most 2 MiB for one
// message of 16 KiB).
class MappingPool {
 public:
  uint8_t* Get(size_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<uint8_t*>& free = free_[size];
    if (!free.empty()) {
      uint8_t* p = free.back();
      free.pop_back();
      bytes_ -= size;
      reused_++;
      if (size <= kSlabMax) slabUsed_[SlabOf(p)]++;
      return p;
    }
    mapped_++;
    return size <= kSlabMax ? FromNewSlab(size) : MapMemory(size, Touch::kNow);
  }

  void Put(uint8_t* p, size_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    if (size > kSlabMax && bytes_ + size > kPoolBytes) {
      UnmapMemory(p, size);
      return;
    }
    free_[size].push_back(p);
    bytes_ += size;
    if (size > kSlabMax) return;
    const uintptr_t slab = SlabOf(p);
    if (--slabUsed_[slab] == 0 && bytes_ > kPoolBytes) DropSlab(slab, size);
  }

  MessageMemory Counts() {
    std::lock_guard<std::mutex> lock(mu_);
    return MessageMemory{mapped_, reused_, bytes_};
  }

 private:
  static constexpr size_t kSlabBytes = 2 << 20;
  static constexpr size_t kSlabMax = 256 << 10;  // at least 8 blocks a slab

  static uintptr_t SlabOf(const uint8_t* p) { return uintptr_t(p) & ~uintptr_t(kSlabBytes - 1); }

  // A fresh slab for blocks of `size`: one block out, the rest free.
  uint8_t* FromNewSlab(size_t size) {
    uint8_t* base = MapAligned();
    if (!base) return nullptr;
    const size_t blocks = kSlabBytes / size;
    std::vector<uint8_t*>& free = free_[size];
    for (size_t i = blocks; i-- > 1;) free.push_back(base + i * size);
    bytes_ += (blocks - 1) * size;
    slabUsed_[uintptr_t(base)] = 1;
    return base;
  }

  // 2 MiB at a 2 MiB boundary (a huge page's), touched as blocks are used.
  static uint8_t* MapAligned() {
    uint8_t* p = MapMemory(2 * kSlabBytes, Touch::kLater);
    if (!p) return nullptr;
    uint8_t* base = reinterpret_cast<uint8_t*>((uintptr_t(p) + kSlabBytes - 1) & ~uintptr_t(kSlabBytes - 1));
    if (base > p) UnmapMemory(p, size_t(base - p));
    if (base + kSlabBytes < p + 2 * kSlabBytes) UnmapMemory(base + kSlabBytes, size_t(p + 2 * kSlabBytes - (base + kSlabBytes)));
    return base;
  }

  // Every block of the slab is free: out of the free list, and unmapped.
  void DropSlab(uintptr_t slab, size_t size) {
    std::vector<uint8_t*>& free = free_[size];
    size_t kept = 0;
    for (uint8_t* q : free) {
      if (SlabOf(q) != slab) free[kept++] = q;
    }
    bytes_ -= (free.size() - kept) * size;
    free.resize(kept);
    slabUsed_.erase(slab);
    UnmapMemory(reinterpret_cast<uint8_t*>(slab), kSlabBytes);
  }

  std::mutex mu_;
  std::unordered_map<size_t, std::vector<uint8_t*>> free_;  // by size, the last given back on top
  std::unordered_map<uintptr_t, size_t> slabUsed_;          // by slab base: its blocks not on the free list
  size_t bytes_ = 0;                                         // bytes on the free lists
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

bool MessageBytes::ReserveBatch(size_t n) {
  size_t rounded = 1;
  while (rounded < n) rounded *= 2;
  if (!Reserve(n, rounded)) return false;
  size = n;
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
