// Two-thread stress test of ring.h (run by test/ring.test.js).
//
// A producer thread writes N records of varying size whose payload is a
// pattern derived from the record number; a consumer thread reads them.
// Allowed outcomes, for every record k, in the order the consumer sees them:
//   - record k arrives after record k-1 and before record k+1, and
//   - its length, type, flags and every payload byte match what was written.
// Forbidden (each counted separately and reported): a torn record (payload
// bytes that do not match), a gap or duplicate (k out of sequence), a length
// that was never written. The producer publishes in bursts of random size so
// that publication both per record and per batch is exercised, and the
// small capacity forces thousands of wraps and full-ring stalls.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <thread>

#include "../ring.h"

using namespace troupe;

static uint32_t SizeOf(uint64_t k) { return uint32_t((k * 2654435761u) % 700); }
static uint8_t ByteOf(uint64_t k, uint32_t i) { return uint8_t(k * 31 + i * 7); }

int main(int argc, char** argv) {
  const uint64_t n = argc > 1 ? strtoull(argv[1], nullptr, 10) : 2000000;
  const uint32_t capacity = argc > 2 ? uint32_t(strtoul(argv[2], nullptr, 10)) : 8192;
  if (!RingView::ValidCapacity(capacity)) { fprintf(stderr, "bad capacity\n"); return 2; }
  void* mem = mmap(nullptr, RingView::TotalBytes(capacity), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  RingView v{static_cast<uint8_t*>(mem), capacity};

  uint64_t fullStalls = 0;
  std::thread producer([&] {
    RingProducer p(v);
    uint64_t burst = 0, seed = 12345;
    for (uint64_t k = 0; k < n; k++) {
      const uint32_t size = 8 + SizeOf(k);
      uint8_t* rec;
      while ((rec = p.Reserve(uint16_t(2 + k % 3), uint16_t(k & 0xffff), size)) == nullptr) {
        p.Publish();
        fullStalls++;
        std::this_thread::yield();
      }
      std::memcpy(rec, &k, 8);
      for (uint32_t i = 8; i < size; i++) rec[i] = ByteOf(k, i);
      p.Commit();
      if (burst-- == 0) {
        p.Publish();
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        burst = (seed >> 33) % 16;
      }
    }
    p.Publish();
  });

  uint64_t torn = 0, outOfSequence = 0, badHeader = 0, seen = 0;
  std::thread consumer([&] {
    RingConsumer c(v);
    RingRecord r;
    uint64_t expect = 0, sinceRelease = 0;
    while (expect < n) {
      if (!c.Peek(&r)) { c.Release(); std::this_thread::yield(); continue; }
      uint64_t k;
      std::memcpy(&k, r.payload, 8);
      if (k != expect) outOfSequence++;
      if (r.size != 8 + SizeOf(k) || r.type != 2 + k % 3 || r.flags != (k & 0xffff)) badHeader++;
      else for (uint32_t i = 8; i < r.size; i++) if (r.payload[i] != ByteOf(k, i)) { torn++; break; }
      expect = k + 1;
      seen++;
      c.Advance();
      if (++sinceRelease % 7 == 0) c.Release();
    }
    c.Release();
  });
  producer.join();
  consumer.join();
  printf("{\"records\":%llu,\"seen\":%llu,\"torn\":%llu,\"outOfSequence\":%llu,\"badHeader\":%llu,\"fullStalls\":%llu}\n",
         (unsigned long long)n, (unsigned long long)seen, (unsigned long long)torn,
         (unsigned long long)outOfSequence, (unsigned long long)badHeader, (unsigned long long)fullStalls);
  return (torn || outOfSequence || badHeader || seen != n) ? 1 : 0;
}
