// Memory for datagrams that a core keeps and a transport receives into:
// units of 64 KiB (each holds any datagram), from one reservation.
//
// The two share it so that a large datagram is never copied to be kept: the
// transport receives each datagram into a unit of its own, and a core that
// keeps one for relaying (KeptStream) takes the unit it lies in, leaving a
// fresh one in its place (Received::hold). A small datagram is copied into
// a unit that gathers several, as before. The engine takes units the same
// way while JS has records that point into them (Engine: pins), and JS
// reads those messages where they lie (memory(): the whole reservation,
// shared, so that a view JS keeps outlives the pool).
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "mapped_memory.h"
#include "wire.h"

namespace troupe {

class DatagramPool {
 public:
  static constexpr size_t kBytes = 64 << 10;
  static constexpr size_t kReceiveUnits = 64;  // a transport's receive batch (Transport::kBatch)
  static constexpr size_t kPinnedUnits = 128;  // units the engine may hold for JS's records (8 MiB: the inbound ring's)
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
    uint8_t* base = MapMemory(units * kBytes, Touch::kLater);
    if (!base) return;  // (nothing kept: counted as keptDropped)
    const size_t length = units * kBytes;
    memory_ = std::shared_ptr<uint8_t>(base, [length](uint8_t* p) { UnmapMemory(p, length); });
    base_ = base;
    units_ = units;
    free_.reserve(units);
    for (size_t i = units; i-- > 0;) free_.push_back(uint32_t(i));  // unit 0 on top
    live_.assign(units, 0);
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
  // What holds a unit: the datagrams in it a keeper has not let go of, and
  // the engine while JS's records point into it; back to the pool at 0.
  uint32_t& live(const uint8_t* unit) { return live_[Index(unit)]; }

  // The whole reservation (null if none), kept mapped while anyone holds it.
  const std::shared_ptr<uint8_t>& memory() const { return memory_; }
  size_t bytes() const { return units_ * kBytes; }
  uint32_t OffsetOf(const uint8_t* p) const { return uint32_t(p - base_); }

 private:
  static constexpr size_t kMinUnits = 256;

  uint32_t Index(const uint8_t* p) const { return uint32_t(size_t(p - base_) / kBytes); }

  std::shared_ptr<uint8_t> memory_;
  uint8_t* base_ = nullptr;
  size_t units_ = 0;
  std::vector<uint32_t> free_;  // last given back on top
  std::vector<uint32_t> live_;
};

}  // namespace troupe
