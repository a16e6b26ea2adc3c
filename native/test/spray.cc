// Test tool: sprays hostile datagrams at a live group (test/hostile.test.js).
//
//   spray GROUP_IP PORT IFACE_IP COUNT SEED MODE [CAPTURE_MS]
//
// First listens on the group for CAPTURE_MS (default 300) and keeps up to
// 256 real datagrams; their source addresses are the members' unicast
// sockets. Then sends COUNT datagrams, each to the group address or to one
// of those members, each one of:
//   random     random bytes, 0..2000 long
//   truncated  a captured datagram cut short
//   replayed   a captured datagram as it was
//   garbled    a valid header (magic, version, group, length) over random
//              contents, from a sender id no member has
//   mutated    a captured datagram with 1..8 bytes changed (MODE "sealed"
//              only: in an open group a changed datagram is a forgery that
//              nothing can tell from the real thing)
// Prints one JSON line: {"sent":N,"captured":N,"targets":N,"kinds":{...}}.
// Exits 2 if it captured nothing (the group was not working).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

uint64_t rng;
uint64_t Next() {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}
uint32_t Below(uint32_t n) { return n ? uint32_t(Next() % n) : 0; }

uint64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

struct Captured {
  std::vector<uint8_t> bytes;
  sockaddr_in from;
};

bool SameAddress(const sockaddr_in& a, const sockaddr_in& b) {
  return a.sin_addr.s_addr == b.sin_addr.s_addr && a.sin_port == b.sin_port;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: spray GROUP_IP PORT IFACE_IP COUNT SEED open|sealed [CAPTURE_MS]\n");
    return 1;
  }
  const uint32_t groupIp = inet_addr(argv[1]);
  const uint16_t port = uint16_t(std::atoi(argv[2]));
  const uint32_t ifaceIp = inet_addr(argv[3]);
  const long count = std::atol(argv[4]);
  rng = uint64_t(std::atoll(argv[5])) * 0x9E3779B97F4A7C15ull | 1;
  const bool sealed = std::strcmp(argv[6], "sealed") == 0;
  const int captureMs = argc > 7 ? std::atoi(argv[7]) : 300;

  // Listen like a member would (the same address and port, shared).
  const int rx = socket(AF_INET, SOCK_DGRAM, 0);
  const int one = 1;
  setsockopt(rx, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in bindAddr{};
  bindAddr.sin_family = AF_INET;
  bindAddr.sin_port = htons(port);
  bindAddr.sin_addr.s_addr = groupIp;
  if (bind(rx, reinterpret_cast<sockaddr*>(&bindAddr), sizeof bindAddr) != 0) { std::perror("bind"); return 1; }
  ip_mreq mreq{};
  mreq.imr_multiaddr.s_addr = groupIp;
  mreq.imr_interface.s_addr = ifaceIp;
  if (setsockopt(rx, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0) { std::perror("IP_ADD_MEMBERSHIP"); return 1; }

  std::vector<Captured> captured;
  std::vector<sockaddr_in> targets;
  sockaddr_in group{};
  group.sin_family = AF_INET;
  group.sin_port = htons(port);
  group.sin_addr.s_addr = groupIp;
  targets.push_back(group);
  std::vector<uint8_t> buf(65536);
  const uint64_t until = NowMs() + uint64_t(captureMs);
  while (NowMs() < until && captured.size() < 256) {
    pollfd p{rx, POLLIN, 0};
    if (poll(&p, 1, 10) <= 0) continue;
    sockaddr_in from{};
    socklen_t len = sizeof from;
    const ssize_t n = recvfrom(rx, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0) continue;
    captured.push_back(Captured{std::vector<uint8_t>(buf.begin(), buf.begin() + n), from});
    if (std::none_of(targets.begin(), targets.end(), [&](const sockaddr_in& t) { return SameAddress(t, from); })) {
      targets.push_back(from);
    }
  }
  close(rx);
  if (captured.empty()) {
    std::printf("{\"sent\":0,\"captured\":0,\"targets\":%zu}\n", targets.size());
    return 2;
  }
  // The group's hash sits at offset 4 of a plain datagram; a sealed one has
  // no plain header, so a garbled one gets a made-up hash.
  uint32_t groupHash = 0;
  std::memcpy(&groupHash, captured[0].bytes.data() + 4, 4);

  const int tx = socket(AF_INET, SOCK_DGRAM, 0);
  in_addr iface{};
  iface.s_addr = ifaceIp;
  setsockopt(tx, IPPROTO_IP, IP_MULTICAST_IF, &iface, sizeof iface);
  const int sndbuf = 8 << 20;
  setsockopt(tx, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);

  enum Kind { kRandom, kTruncated, kReplayed, kGarbled, kMutated, kKinds };
  const char* names[kKinds] = {"random", "truncated", "replayed", "garbled", "mutated"};
  long kinds[kKinds] = {};
  constexpr int kBatch = 64;
  constexpr size_t kSlot = 2048;
  std::vector<uint8_t> mem(kBatch * kSlot);
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  sockaddr_in to[kBatch];
  long sent = 0;
  while (sent < count) {
    const int batch = int(std::min<long>(kBatch, count - sent));
    for (int i = 0; i < batch; i++) {
      uint8_t* p = mem.data() + i * kSlot;
      const Captured& c = captured[Below(uint32_t(captured.size()))];
      const size_t clen = std::min(c.bytes.size(), kSlot);
      Kind kind = Kind(Below(sealed ? kKinds : kMutated));
      size_t n = 0;
      switch (kind) {
        case kRandom:
          n = Below(2001) % kSlot;
          for (size_t j = 0; j < n; j++) p[j] = uint8_t(Next());
          break;
        case kTruncated:
          n = clen > 1 ? Below(uint32_t(clen)) : 0;
          std::memcpy(p, c.bytes.data(), n);
          break;
        case kReplayed:
          n = clen;
          std::memcpy(p, c.bytes.data(), n);
          break;
        case kGarbled: {
          n = 24 + Below(1000);
          for (size_t j = 0; j < n; j++) p[j] = uint8_t(Next());
          const uint16_t magic = 0x5254;
          std::memcpy(p, &magic, 2);
          p[2] = 1;
          p[3] = uint8_t(1 + Below(5));
          std::memcpy(p + 4, &groupHash, 4);
          const uint64_t sender = Next() | (uint64_t(1) << 63);  // never a real id (those are random too, but 2^-64)
          std::memcpy(p + 8, &sender, 8);
          const uint32_t length = uint32_t(n);
          std::memcpy(p + 20, &length, 4);
          break;
        }
        case kMutated: {
          n = clen;
          std::memcpy(p, c.bytes.data(), n);
          const uint32_t edits = 1 + Below(8);
          for (uint32_t e = 0; e < edits && n > 0; e++) p[Below(uint32_t(n))] ^= uint8_t(1 + Below(255));
          break;
        }
        default:
          break;
      }
      kinds[kind]++;
      to[i] = targets[Below(uint32_t(targets.size()))];
      iov[i] = iovec{p, n};
      msgs[i].msg_hdr = msghdr{};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &to[i];
      msgs[i].msg_hdr.msg_namelen = sizeof to[i];
    }
    int done = 0;
    while (done < batch) {
      const int r = sendmmsg(tx, msgs + done, unsigned(batch - done), 0);
      if (r <= 0) break;
      done += r;
    }
    sent += batch;
    // Leave the members some air now and then: a flood that only fills
    // socket buffers tests the kernel, not the group.
    if ((sent / kBatch) % 16 == 0) usleep(200);
  }
  close(tx);
  std::printf("{\"sent\":%ld,\"captured\":%zu,\"targets\":%zu,\"kinds\":{", sent, captured.size(), targets.size());
  for (int k = 0; k < kKinds; k++) std::printf("%s\"%s\":%ld", k ? "," : "", names[k], kinds[k]);
  std::printf("}}\n");
  return 0;
}
