// Memory for datagrams that a core keeps and a transport receives into:
// units of 64 KiB (each holds any datagram), from one reservation.
//
// The two share it so that a large datagram is never copied to be kept: the
// transport receives each datagram into a unit of its own, and a core that
// keeps one for relaying (KeptStream) takes the unit it lies in, leaving a
// fresh one in its place (Received::hold). A small datagram is copied into
// a unit that gathers several, as before.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "mapped_memory.h"
#include "wire.h"

namespace troupe {

class DatagramPool {
 public:
  static constexpr size_t kBytes = 64 << 10;
  static constexpr size_t kReceiveUnits = 64;  // a transport's receive batch (Transport::kBatch)
  static_assert(kBytes >= kMaxDatagram, "a unit holds any datagram");

  // Room for `bytes` (at least kMinUnits: a unit for each of many streams
  // that keep a little) and `extra` units more: address space reserved at
  // once and touched only as units are first used, so that taking and
  // giving back a unit costs no allocation (mapping, faulting and unmapping
  // memory as lag came and went cost more than the copies). 0: no pool (Get
  // gives nothing).
  DatagramPool(size_t bytes, size_t extra) {
    if (!bytes) return;
    const size_t units = std::max(kMinUnits, (bytes + kBytes - 1) / kBytes) + extra;
    base_ = MapMemory(units * kBytes, Touch::kLater);
    if (!base_) return;  // (nothing kept: counted as keptDropped)
    units_ = units;
    free_.reserve(units);
    for (size_t i = units; i-- > 0;) free_.push_back(uint32_t(i));  // unit 0 on top
    live_.assign(units, 0);
  }
  ~DatagramPool() {
    UnmapMemory(base_, units_ * kBytes);
  }
  DatagramPool(const DatagramPool&) = delete;
  DatagramPool& operator=(const DatagramPool&) = delete;

  // A unit, the last given back first (its pages are the likeliest to be
  // warm); nullptr when all are in use.
  uint8_t* Get() {
    if (free_.empty()) return nullptr;
    const uint32_t i = free_.back();
    free_.pop_back();
    return base_ + size_t(i) * kBytes;
  }
  void Put(uint8_t* unit) { free_.push_back(Index(unit)); }

  // Whether p lies in one of our units (a datagram the injector copied does not).
  bool Owns(const uint8_t* p) const { return base_ && p >= base_ && p < base_ + units_ * kBytes; }
  // The unit p lies in.
  uint8_t* UnitOf(const uint8_t* p) const { return base_ + size_t(Index(p)) * kBytes; }
  // What a keeper counts of a unit: the datagrams in it it has not let go of.
  uint32_t& live(const uint8_t* unit) { return live_[Index(unit)]; }

 private:
  static constexpr size_t kMinUnits = 256;

  uint32_t Index(const uint8_t* p) const { return uint32_t(size_t(p - base_) / kBytes); }

  uint8_t* base_ = nullptr;
  size_t units_ = 0;
  std::vector<uint32_t> free_;  // last given back on top
  std::vector<uint32_t> live_;
};

}  // namespace troupe
