// Closed groups: every datagram sealed with AES-256-GCM (Node's bundled
// OpenSSL, whose symbols the node binary exports to addons), authenticated
// and replay-protected. Sits between the sockets and the core: the core
// only ever sees plaintext datagrams that a key holder sealed, once.
//
// Sealed datagram (kSealOverhead = 40 bytes more than the plain one):
//   0   u16 magic   0x5354 ("TS"; a plain datagram starts with "TR")
//   2   u8  version 1
//   3   u8  reserved 0
//   4   u32 keyTag  names the group key that sealed it (HMAC of the key)
//   8   u64 sender  the sender's incarnation id; must equal the plain header's
//   16  u64 counter per sender, from 1, one per datagram sealed
//   24  ciphertext  (the plain datagram, any type)
//   n-16 tag        GCM tag over bytes 0..23 (associated data) and the text
//
// Keys: each sender seals with its own key, HMAC-SHA256(group key,
// "troupe-v1-sender" | sender id), and the nonce is its counter. Sender ids
// are random 64-bit numbers, so no two senders share a key and no nonce is
// used twice under one key.
//
// Replay: per key and sender, the highest counter seen and a window of the
// kReplayWindow counters below it. A counter seen before, or older than the
// window, is dropped (a lost datagram is repaired by a retransmission, which
// carries a new counter). Per-sender state is made only for datagrams that
// authenticate, up to kMaxSealSenders (the least recently heard is dropped).
//
// Rotation: Rekey() makes a new key the one we seal with; the previous key
// is still accepted for a grace period, then forgotten. Every member must be
// given the new key within that period.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>

namespace troupe {

constexpr size_t kKeyBytes = 32;
constexpr size_t kSealHeaderBytes = 24;
constexpr size_t kSealTagBytes = 16;
constexpr size_t kSealOverhead = kSealHeaderBytes + kSealTagBytes;
constexpr uint16_t kSealMagic = 0x5354;
constexpr uint32_t kReplayWindow = 1024;  // counters, a multiple of 64
constexpr size_t kMaxSealSenders = 1024;

enum class SealReject : uint8_t { kNone = 0, kAuth, kReplay };

class Sealer {
 public:
  // `self` is our incarnation id. Check ok() after construction.
  Sealer(const uint8_t key[kKeyBytes], uint64_t self);
  ~Sealer();
  Sealer(const Sealer&) = delete;
  Sealer& operator=(const Sealer&) = delete;
  bool ok() const { return enc_ != nullptr && dec_ != nullptr; }

  // Writes the sealed form of plain[0..n) to out (room for n + kSealOverhead).
  // Returns the sealed length, or 0 if the cipher failed.
  size_t Seal(const uint8_t* plain, size_t n, uint8_t* out);

  // Opens p[0..n) in place. On success the plain datagram is at
  // p + kSealHeaderBytes, *plainLen bytes long.
  SealReject Open(uint8_t* p, size_t n, uint64_t nowNs, size_t* plainLen);

  // Seal with `key` from now on; accept the current key until now + graceNs.
  void Rekey(const uint8_t key[kKeyBytes], uint64_t graceNs, uint64_t nowNs);

 private:
  struct Window {
    uint64_t highest = 0;
    uint64_t bits[kReplayWindow / 64] = {};  // bit i: counter highest - i seen
    uint8_t key[kKeyBytes];
    uint64_t lastNs = 0;
  };
  struct Slot {
    bool used = false;
    uint32_t tag = 0;
    uint64_t expiresNs = 0;  // 0: does not expire
    uint8_t key[kKeyBytes];
    uint8_t ownKey[kKeyBytes];  // our sender key under it
    std::unordered_map<uint64_t, Window> senders;
  };
  static uint32_t TagOf(const uint8_t key[kKeyBytes]);
  static void SenderKey(const uint8_t key[kKeyBytes], uint64_t sender, uint8_t out[kKeyBytes]);
  static bool Seen(const Window& w, uint64_t counter);
  static void Mark(Window& w, uint64_t counter);
  void Install(Slot& s, const uint8_t key[kKeyBytes]);
  Window* Admit(Slot& s, uint64_t sender, const uint8_t key[kKeyBytes], uint64_t nowNs);

  uint64_t self_;
  uint64_t counter_ = 0;
  Slot slots_[2];
  int current_ = 0;
  void* enc_ = nullptr;  // EVP_CIPHER_CTX (kept out of this header)
  void* dec_ = nullptr;
};

}  // namespace troupe
