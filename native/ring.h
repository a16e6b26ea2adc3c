// Single-producer / single-consumer byte ring over memory shared with JS.
//
// Commit rule: a record is visible to the consumer once the producer has
// stored a tail position beyond it with release order; space is free to the
// producer once the consumer has stored a head position beyond it with
// release order. Records are never visible half-written.
//
// Layout (offsets in bytes from the ring's base; all integers little-endian):
//
//   0     u32 tail       producer position (bytes written, mod 2^32)
//   4..127               padding: tail has two cache lines to itself
//   128   u32 head       consumer position (bytes consumed, mod 2^32)
//   132..255             padding
//   256   u32 wake       inbound only: 1 while a JS wake-up is pending
//   260   u32 blocked    inbound only: 1 while the producer waits for space
//   264..511             padding
//   512   data[capacity] capacity is a power of two, at least 4 KiB
//
// A record in data:
//
//   0        4        6        8
//   +--------+--------+--------+---------------------------+
//   | length | type   | flags  | payload (length - 8 bytes) |
//   +--------+--------+--------+---------------------------+
//   length covers header + payload; each record starts 8-byte aligned, so
//   the next record is at align8(length). A record never wraps: when one
//   does not fit before the end of data, the producer writes a kPad record
//   filling the rest, and the record starts again at offset 0.
//
// Positions are free-running u32 counters: used = tail - head (mod 2^32).
// The JS side (ts/ring.ts) implements the same layout with Atomics.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace troupe {

constexpr size_t kRingHeaderBytes = 512;
constexpr size_t kRecordHeaderBytes = 8;
constexpr uint16_t kRecordPad = 1;

constexpr size_t Align8(size_t n) { return (n + 7) & ~size_t(7); }

enum class RingStatus { kOk, kFull, kTooBig };

// A record's header (the layout above).
inline void WriteRecordHeader(uint8_t* p, uint32_t length, uint16_t type, uint16_t flags) {
  std::memcpy(p, &length, 4);
  std::memcpy(p + 4, &type, 2);
  std::memcpy(p + 6, &flags, 2);
}

struct RingView {
  uint8_t* base = nullptr;
  uint32_t capacity = 0;  // power of two

  std::atomic<uint32_t>& tail() const { return *reinterpret_cast<std::atomic<uint32_t>*>(base + 0); }
  std::atomic<uint32_t>& head() const { return *reinterpret_cast<std::atomic<uint32_t>*>(base + 128); }
  std::atomic<uint32_t>& wake() const { return *reinterpret_cast<std::atomic<uint32_t>*>(base + 256); }
  std::atomic<uint32_t>& blocked() const { return *reinterpret_cast<std::atomic<uint32_t>*>(base + 260); }
  uint8_t* data() const { return base + kRingHeaderBytes; }

  static bool ValidCapacity(size_t c) { return c >= 4096 && c <= (1u << 30) && (c & (c - 1)) == 0; }
  static size_t TotalBytes(uint32_t capacity) { return kRingHeaderBytes + capacity; }
};

// Producer side. Reserve/commit records, then Publish() makes them visible.
class RingProducer {
 public:
  RingProducer() = default;
  explicit RingProducer(RingView v) : v_(v) {
    // Only the producer writes tail, so a relaxed read of our own counter is exact.
    tail_ = v_.tail().load(std::memory_order_relaxed);
  }

  // Free bytes as of the last head we saw; refreshes head (acquire: the
  // consumer is done reading everything before it).
  uint32_t Free() {
    head_ = v_.head().load(std::memory_order_acquire);
    return v_.capacity - (tail_ - head_);
  }

  // Returns a pointer to `payload` bytes for a record of `type`, or nullptr
  // when the ring has no room (kFull). The caller fills the payload and then
  // calls Commit(). At most one reservation is outstanding.
  uint8_t* Reserve(uint16_t type, uint16_t flags, size_t payload) {
    const size_t need = Align8(kRecordHeaderBytes + payload);
    if (need > v_.capacity / 2) return nullptr;
    uint32_t offset = tail_ & (v_.capacity - 1);
    const uint32_t toEnd = v_.capacity - offset;
    const size_t total = need <= toEnd ? need : need + toEnd;
    if (v_.capacity - (tail_ - head_) < total && Free() < total) return nullptr;
    if (need > toEnd) {
      WriteHeader(offset, toEnd, kRecordPad, 0);
      tail_ += toEnd;
      offset = 0;
    }
    WriteHeader(offset, uint32_t(kRecordHeaderBytes + payload), type, flags);
    pending_ = uint32_t(need);
    return v_.data() + offset + kRecordHeaderBytes;
  }
  void Commit() { tail_ += pending_; pending_ = 0; }
  // Where the next record goes (the end of those committed).
  uint32_t tail() const { return tail_; }

  // Release: everything committed so far becomes visible to the consumer.
  void Publish() { v_.tail().store(tail_, std::memory_order_release); }
  bool HasUnpublished() const { return v_.tail().load(std::memory_order_relaxed) != tail_; }

 private:
  void WriteHeader(uint32_t offset, uint32_t length, uint16_t type, uint16_t flags) {
    WriteRecordHeader(v_.data() + offset, length, type, flags);
  }
  RingView v_;
  uint32_t tail_ = 0;
  uint32_t head_ = 0;
  uint32_t pending_ = 0;
};

struct RingRecord {
  uint16_t type;
  uint16_t flags;
  const uint8_t* payload;
  uint32_t size;  // payload bytes
};

// Consumer side. Peek() the next record, Advance() past it, Release() hands
// the consumed space back to the producer.
class RingConsumer {
 public:
  RingConsumer() = default;
  // From the consumer's position now; what is published is looked up at the first Peek.
  explicit RingConsumer(RingView v) : v_(v) { head_ = tail_ = v_.head().load(std::memory_order_relaxed); }

  // Returns false when no published record is left. Skips padding.
  bool Peek(RingRecord* r) {
    for (;;) {
      if (head_ == tail_) {
        tail_ = v_.tail().load(std::memory_order_acquire);  // pairs with Publish()
        if (head_ == tail_) return false;
      }
      const uint8_t* p = v_.data() + (head_ & (v_.capacity - 1));
      uint32_t length;
      std::memcpy(&length, p, 4);
      std::memcpy(&r->type, p + 4, 2);
      std::memcpy(&r->flags, p + 6, 2);
      if (r->type == kRecordPad) { head_ += length; continue; }
      r->payload = p + kRecordHeaderBytes;
      r->size = length - kRecordHeaderBytes;
      next_ = uint32_t(Align8(length));
      return true;
    }
  }
  void Advance() { head_ += next_; next_ = 0; }
  void Release() { v_.head().store(head_, std::memory_order_release); }

 private:
  RingView v_;
  uint32_t head_ = 0;
  uint32_t tail_ = 0;
  uint32_t next_ = 0;
};

}  // namespace troupe
