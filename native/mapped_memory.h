// The engine's large buffers (the rings shared with JS, the retransmit log,
// the datagram pool, messages put together) are anonymous mappings that the
// kernel may back with 2 MiB pages (MADV_HUGEPAGE: transparent huge pages in
// the 'madvise' or 'always' setting; with 'never' nothing changes). Copies
// through them then miss the TLB once per 2 MiB, not once per 4 KiB: on this
// project's VMs, 64 KiB messages 1 -> 3 went from 1,132 to 1,306 MB/s per
// receiver (five rounds each, medians) with these and the message slabs of
// assembly.cc together.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace troupe {

enum class Touch {
  kLater,  // pages come as they are first used (address space reserved only)
  kNow,    // every page faulted in at once (not in the first copy into them)
};

// nullptr if the address space or memory ran out.
inline uint8_t* MapMemory(size_t bytes, Touch touch) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  madvise(p, bytes, MADV_HUGEPAGE);  // (a kernel without THP says no: small pages, as before)
  if (touch == Touch::kNow) {
#ifdef MADV_POPULATE_WRITE
    if (madvise(p, bytes, MADV_POPULATE_WRITE) != 0) std::memset(p, 0, bytes);
#else
    std::memset(p, 0, bytes);
#endif
  }
  return static_cast<uint8_t*>(p);
}

inline void UnmapMemory(uint8_t* p, size_t bytes) {
  if (p && bytes) munmap(p, bytes);
}

}  // namespace troupe
