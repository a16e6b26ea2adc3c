// libFuzzer target: the sinks' assembler (assembly.h) fed a script of
// fragments from a few senders, with made-up record room, against a model.
//
// Input: byte 0 sets maxMessage (64 << (b % 12) bytes); then ops of 3 bytes
// until the input ends:
//   op % 8 in 0..5  a fragment: peer = op >> 3 & 3, frag = op % 4 (whole,
//                   first, middle, last; whole is not the assembler's: it
//                   only takes the next seq, and only between messages),
//                   length = u16 of the next two bytes % 70000 (past 64 KiB:
//                   the mapped buffers)
//   6               no room for a record on the next fragment that needs one
//                   (DeliverFragment must then change nothing)
//   7               the peer (op >> 3 & 3) is removed (Forget)
//
// Checked, traps on any violation: every seq a peer's fragments took is
// accounted for exactly once, in order, by an assembled record (first..last)
// or a skipped one, or still waits in the message being put together; an
// assembled message is the fragments' bytes, whole, and taken once by its
// handle; the gauge of bytes in assembly is what the model holds; memory is
// freed (LeakSanitizer).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "assembly.h"
#include "boundary.h"
#include "records.h"

namespace troupe::fuzz {
namespace {

inline void Check(bool ok) {
  if (!ok) __builtin_trap();
}

struct PeerModel {
  uint64_t nextSeq = 1;          // the seq the peer's next fragment takes
  uint64_t accounted = 1;        // every seq below this has had its record
  bool begun = false;            // a message being put together
  uint64_t first = 0;            // its first seq
  std::vector<uint8_t> bytes;    // its bytes so far
};

uint8_t ByteOf(uint64_t peer, uint64_t seq, size_t i) { return uint8_t(peer * 131 + seq * 31 + i); }

void RunInput(const uint8_t* data, size_t size) {
  if (size < 1) return;
  const size_t maxMessage = size_t(64) << (data[0] % 12);
  Assembler a(maxMessage);
  PeerModel peers[4];
  size_t assembling = 0;
  bool noRoom = false;
  RecordBuffer records;
  std::vector<uint8_t> payload;
  for (size_t at = 1; at + 3 <= size; at += 3) {
    const uint8_t op = data[at];
    const uint32_t peer = (op >> 3) & 3;
    PeerModel& m = peers[peer];
    if (op % 8 == 6) { noRoom = true; continue; }
    if (op % 8 == 7) {
      a.Forget(peer);
      // The peer's number is free: a new member starts its stream afresh.
      m = PeerModel{};
      assembling = 0;
      for (const PeerModel& p : peers) assembling += p.begun ? p.bytes.size() : 0;
      Check(a.assemblingBytes() == assembling);
      continue;
    }
    const uint8_t frag = op % 4;
    const size_t n = (data[at + 1] | data[at + 2] << 8) % 70000;
    const uint64_t seq = m.nextSeq;
    if (frag == kFrag_whole) {
      // A sink writes it a message record; the assembler never sees it. (Not
      // inside a fragmented message: the outbox never puts one there.)
      if (!m.begun) m.accounted = ++m.nextSeq;
      continue;
    }
    payload.resize(n);
    for (size_t i = 0; i < n; i++) payload[i] = ByteOf(peer, seq, i);
    records.Clear();
    bool refused = false;
    auto reserve = [&](uint16_t type, uint16_t flags, size_t bytes) -> uint8_t* {
      if (noRoom) { refused = true; return nullptr; }
      return records.Append(type, flags, bytes);
    };
    const uint64_t droppedBefore = a.dropped();
    const bool took = DeliverFragment(a, reserve, peer, seq, 1, kOrder_fifo, frag, payload.data(), n);
    if (!took) {
      // No room: nothing changed; the core would try again later.
      Check(refused && records.size() == 0 && a.dropped() == droppedBefore && a.assemblingBytes() == assembling);
      noRoom = false;
      continue;
    }
    noRoom = false;
    m.nextSeq++;
    // What the model expects.
    bool whole = false, dropped = false;
    uint64_t dropFirst = 0, dropLast = 0;
    std::vector<uint8_t> expect;
    if (frag == kFrag_first) {
      if (m.begun) { dropped = true; dropFirst = m.first; dropLast = seq - 1; }
      m.begun = true;
      m.first = seq;
      m.bytes.assign(payload.begin(), payload.end());
    } else if (!m.begun) {
      dropped = true; dropFirst = dropLast = seq;
    } else if (m.bytes.size() + n > maxMessage) {
      dropped = true; dropFirst = m.first; dropLast = seq;
      m.begun = false;
      m.bytes.clear();
    } else {
      m.bytes.insert(m.bytes.end(), payload.begin(), payload.end());
      if (frag == kFrag_last) { whole = true; expect.swap(m.bytes); m.begun = false; }
    }
    // What the sink wrote: at most one record.
    size_t count = 0;
    for (size_t r = 0; r < records.size();) {
      const uint8_t* p = records.data() + r;
      uint32_t length;
      uint16_t type;
      std::memcpy(&length, p, 4);
      std::memcpy(&type, p + 4, 2);
      const uint8_t* body = p + kRecordHeaderBytes;
      count++;
      if (type == kRec_assembled) {
        Check(whole);
        Check(Ld32(body + kAt_assembled_peer) == peer && Ld64(body + kAt_assembled_last) == seq);
        const uint64_t first = Ld64(body + kAt_assembled_first);
        Check(first == m.accounted);
        Check(Ld64(body + kAt_assembled_length) == expect.size());
        MessageBytes got;
        const uint64_t handle = Ld64(body + kAt_assembled_handle);
        Check(a.Take(handle, &got));
        Check(got.size == expect.size() && (got.size == 0 || std::memcmp(got.data, expect.data(), got.size) == 0));
        MessageBytes again;
        Check(!a.Take(handle, &again));
        got.Release();
        m.accounted = seq + 1;
      } else {
        Check(type == kRec_skipped && dropped);
        Check(Ld32(body + kAt_skipped_peer) == peer);
        Check(Ld64(body + kAt_skipped_first) == dropFirst && Ld64(body + kAt_skipped_last) == dropLast);
        Check(dropFirst == m.accounted);
        m.accounted = dropLast + 1;
      }
      r += (length + 7) & ~size_t(7);
    }
    Check(count == ((whole || dropped) ? 1u : 0u));
    Check(a.dropped() == droppedBefore + (dropped ? 1 : 0));
    // Seqs not accounted for are exactly those of the message being put together.
    Check(m.begun ? m.accounted == m.first : m.accounted == m.nextSeq);
    assembling = 0;
    for (const PeerModel& p : peers) assembling += p.begun ? p.bytes.size() : 0;
    Check(a.assemblingBytes() == assembling);
    Check(a.parkedBytes() == 0);
  }
}

}  // namespace
}  // namespace troupe::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  troupe::fuzz::RunInput(data, size);
  return 0;
}
