// Writing the inbound records that boundary.h lays out: the engine writes
// them into its inbound ring, the manual core (the simulator's) into a
// RecordBuffer; either way the bytes are the same, and ts/node/records.ts is
// the one reader of both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "boundary.h"
#include "ring.h"
#include "wire.h"

namespace troupe {

inline size_t MessageRecordBytes(size_t n) { return kRecMessageFixed + n; }
inline void EncodeMessage(uint8_t* p, uint64_t seq, uint32_t peer, uint32_t view, const uint8_t* data, size_t n) {
  St64(p + kAt_message_seq, seq);
  St32(p + kAt_message_peer, peer);
  St32(p + kAt_message_view, view);
  if (n) std::memcpy(p + kAt_message_data, data, n);
}

// A message whose bytes stay where they were received: `offset` into the
// engine's receive memory (Engine::ReceiveMemory), `length` bytes.
inline void EncodeMessageAt(uint8_t* p, uint64_t seq, uint32_t peer, uint32_t view, uint32_t offset, uint32_t length) {
  St64(p + kAt_messageAt_seq, seq);
  St32(p + kAt_messageAt_peer, peer);
  St32(p + kAt_messageAt_view, view);
  St32(p + kAt_messageAt_offset, offset);
  St32(p + kAt_messageAt_length, length);
}

inline size_t PeerUpRecordBytes(size_t nameLen) { return kRecPeerUpFixed + nameLen; }
inline void EncodePeerUp(uint8_t* p, uint32_t peer, uint64_t id, const char* name, size_t nameLen) {
  St32(p + kAt_peerUp_peer, peer);
  St32(p + kAt_peerUp_nameLength, uint32_t(nameLen));
  St64(p + kAt_peerUp_id, id);
  if (nameLen) std::memcpy(p + kAt_peerUp_name, name, nameLen);
}

inline void EncodePeerDown(uint8_t* p, uint32_t peer, uint64_t id, uint32_t reason) {
  St32(p + kAt_peerDown_peer, peer);
  St32(p + kAt_peerDown_reason, reason);
  St64(p + kAt_peerDown_id, id);
}

inline size_t ControlRecordBytes(size_t n) { return kRecControlFixed + n; }
inline void EncodeControl(uint8_t* p, uint64_t sender, const uint8_t* payload, size_t n) {
  St64(p + kAt_control_sender, sender);
  if (n) std::memcpy(p + kAt_control_payload, payload, n);
}

inline void EncodeStable(uint8_t* p, uint32_t peer, uint64_t seq) {
  std::memset(p, 0, kRecStableBytes);  // (the padding after peer)
  St32(p + kAt_stable_peer, peer);
  St64(p + kAt_stable_seq, seq);
}

inline void EncodeSlow(uint8_t* p, uint32_t peer, uint64_t id, uint64_t lag) {
  std::memset(p, 0, kRecSlowBytes);
  St32(p + kAt_slow_peer, peer);
  St64(p + kAt_slow_id, id);
  St64(p + kAt_slow_lag, lag);
}

inline void EncodeSkipped(uint8_t* p, uint32_t peer, uint32_t view, uint64_t first, uint64_t last) {
  St32(p + kAt_skipped_peer, peer);
  St32(p + kAt_skipped_view, view);
  St64(p + kAt_skipped_first, first);
  St64(p + kAt_skipped_last, last);
}

inline void EncodeAssembled(uint8_t* p, uint32_t peer, uint32_t view, uint64_t first, uint64_t last, uint64_t length, uint64_t handle) {
  St64(p + kAt_assembled_first, first);
  St32(p + kAt_assembled_peer, peer);
  St32(p + kAt_assembled_view, view);
  St64(p + kAt_assembled_last, last);
  St64(p + kAt_assembled_length, length);
  St64(p + kAt_assembled_handle, handle);
}

// The run of skipped messages the last record written stands for: the next
// skipped message of the same sender and view, right after it, extends that
// record in place (it is not yet published) instead of writing another. Any
// other record, or publishing, ends the run.
class SkipRun {
 public:
  // Extends the run with `seq`, if it can.
  bool Extend(uint8_t* base, uint32_t peer, uint32_t view, uint64_t seq) {
    if (at_ == kNone || peer != peer_ || view != view_ || seq != last_ + 1) return false;
    last_ = seq;
    St64(base + at_ + kAt_skipped_last, seq);
    return true;
  }
  // A skipped record was written at `base + at` for `seq` alone.
  void Start(size_t at, uint32_t peer, uint32_t view, uint64_t seq) { at_ = at; peer_ = peer; view_ = view; last_ = seq; }
  void End() { at_ = kNone; }

 private:
  static constexpr size_t kNone = ~size_t(0);
  size_t at_ = kNone;  // the record's payload, as an offset from the base the writer passes
  uint32_t peer_ = 0, view_ = 0;
  uint64_t last_ = 0;
};

// Records in the ring's format (ring.h: u32 length | u16 type | u16 flags |
// payload, each 8-byte aligned), in a growing buffer: no wrap, no padding record.
class RecordBuffer {
 public:
  // Room for one record's payload (valid until the next Append).
  uint8_t* Append(uint16_t type, uint16_t flags, size_t payload) {
    const size_t at = bytes_.size();
    const uint32_t length = uint32_t(kRecordHeaderBytes + payload);
    bytes_.resize(at + ((length + 7) & ~size_t(7)), 0);
    uint8_t* p = bytes_.data() + at;
    std::memcpy(p, &length, 4);
    std::memcpy(p + 4, &type, 2);
    std::memcpy(p + 6, &flags, 2);
    return p + kRecordHeaderBytes;
  }
  uint8_t* data() { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  void Clear() { bytes_.clear(); }

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace troupe
