#include "seal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>

#include "wire.h"

namespace troupe {

namespace {
constexpr char kTagLabel[] = "troupe-v1-key-tag";
constexpr char kSenderLabel[] = "troupe-v1-sender";
constexpr int kNonceBytes = 12;

EVP_CIPHER_CTX* Ctx(void* p) { return static_cast<EVP_CIPHER_CTX*>(p); }

void Nonce(uint64_t counter, uint8_t out[kNonceBytes]) {
  std::memset(out, 0, 4);
  St64(out + 4, counter);
}
}  // namespace

Sealer::Sealer(const uint8_t key[kKeyBytes], uint64_t self) : self_(self) {
  EVP_CIPHER_CTX* enc = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX* dec = EVP_CIPHER_CTX_new();
  if (enc && EVP_EncryptInit_ex(enc, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 && dec &&
      EVP_DecryptInit_ex(dec, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1) {
    enc_ = enc;
    dec_ = dec;
  } else {
    EVP_CIPHER_CTX_free(enc);
    EVP_CIPHER_CTX_free(dec);
  }
  Install(slots_[0], key);
}

Sealer::~Sealer() {
  EVP_CIPHER_CTX_free(Ctx(enc_));
  EVP_CIPHER_CTX_free(Ctx(dec_));
  for (Slot& s : slots_) {
    OPENSSL_cleanse(s.key, sizeof s.key);
    OPENSSL_cleanse(s.ownKey, sizeof s.ownKey);
  }
}

uint32_t Sealer::TagOf(const uint8_t key[kKeyBytes]) {
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), key, int(kKeyBytes), reinterpret_cast<const uint8_t*>(kTagLabel), sizeof kTagLabel - 1, mac, &len);
  return Ld32(mac);
}

void Sealer::SenderKey(const uint8_t key[kKeyBytes], uint64_t sender, uint8_t out[kKeyBytes]) {
  uint8_t msg[sizeof kSenderLabel - 1 + 8];
  std::memcpy(msg, kSenderLabel, sizeof kSenderLabel - 1);
  St64(msg + sizeof kSenderLabel - 1, sender);
  unsigned len = 0;
  uint8_t mac[EVP_MAX_MD_SIZE];
  HMAC(EVP_sha256(), key, int(kKeyBytes), msg, sizeof msg, mac, &len);
  std::memcpy(out, mac, kKeyBytes);
  OPENSSL_cleanse(mac, sizeof mac);
}

void Sealer::Install(Slot& s, const uint8_t key[kKeyBytes]) {
  s.used = true;
  s.tag = TagOf(key);
  s.expiresNs = 0;
  std::memcpy(s.key, key, kKeyBytes);
  SenderKey(key, self_, s.ownKey);
  s.senders.clear();
}

void Sealer::Rekey(const uint8_t key[kKeyBytes], uint64_t graceNs, uint64_t nowNs) {
  Slot& cur = slots_[current_];
  if (cur.tag == TagOf(key) && std::memcmp(cur.key, key, kKeyBytes) == 0) return;
  Slot& next = slots_[1 - current_];
  Install(next, key);
  cur.expiresNs = nowNs + graceNs;
  if (cur.expiresNs == 0) cur.expiresNs = 1;
  current_ = 1 - current_;
}

size_t Sealer::Seal(const uint8_t* plain, size_t n, uint8_t* out) {
  const Slot& s = slots_[current_];
  const uint64_t counter = ++counter_;
  St16(out, kSealMagic);
  out[2] = 1;
  out[3] = 0;
  St32(out + 4, s.tag);
  St64(out + 8, self_);
  St64(out + 16, counter);
  uint8_t nonce[kNonceBytes];
  Nonce(counter, nonce);
  EVP_CIPHER_CTX* c = Ctx(enc_);
  int len = 0, tail = 0;
  if (EVP_EncryptInit_ex(c, nullptr, nullptr, s.ownKey, nonce) != 1 ||
      EVP_EncryptUpdate(c, nullptr, &len, out, int(kSealHeaderBytes)) != 1 ||
      EVP_EncryptUpdate(c, out + kSealHeaderBytes, &len, plain, int(n)) != 1 ||
      EVP_EncryptFinal_ex(c, out + kSealHeaderBytes + len, &tail) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, int(kSealTagBytes), out + kSealHeaderBytes + n) != 1) {
    return 0;
  }
  return n + kSealOverhead;
}

bool Sealer::Seen(const Window& w, uint64_t counter) {
  if (counter > w.highest) return false;
  const uint64_t back = w.highest - counter;
  if (back >= kReplayWindow) return true;  // too old to tell: treated as seen
  return (w.bits[back / 64] >> (back % 64)) & 1;
}

void Sealer::Mark(Window& w, uint64_t counter) {
  if (counter > w.highest) {
    // Shift the window up by `ahead` counters.
    const uint64_t ahead = counter - w.highest;
    if (ahead >= kReplayWindow) {
      std::memset(w.bits, 0, sizeof w.bits);
    } else {
      const size_t words = ahead / 64, bits = ahead % 64, n = kReplayWindow / 64;
      for (size_t i = n; i-- > 0;) {
        uint64_t v = i >= words ? w.bits[i - words] << bits : 0;
        if (bits && i >= words + 1) v |= w.bits[i - words - 1] >> (64 - bits);
        w.bits[i] = v;
      }
    }
    w.highest = counter;
  }
  const uint64_t back = w.highest - counter;
  w.bits[back / 64] |= uint64_t(1) << (back % 64);
}

Sealer::Window* Sealer::Admit(Slot& s, uint64_t sender, const uint8_t key[kKeyBytes], uint64_t nowNs) {
  if (s.senders.size() >= kMaxSealSenders) {
    auto oldest = s.senders.begin();
    for (auto it = s.senders.begin(); it != s.senders.end(); ++it) {
      if (it->second.lastNs < oldest->second.lastNs) oldest = it;
    }
    s.senders.erase(oldest);
  }
  Window& w = s.senders[sender];
  std::memcpy(w.key, key, kKeyBytes);
  w.lastNs = nowNs;
  return &w;
}

SealReject Sealer::Open(uint8_t* p, size_t n, uint64_t nowNs, size_t* plainLen) {
  if (n < kSealOverhead + kHeaderBytes || Ld16(p) != kSealMagic || p[2] != 1) return SealReject::kAuth;
  const uint32_t tag = Ld32(p + 4);
  Slot* s = nullptr;
  for (Slot& slot : slots_) {
    if (slot.used && slot.expiresNs && nowNs >= slot.expiresNs) {
      // The grace period is over: the old key is forgotten, whatever this datagram is.
      slot.used = false;
      slot.senders.clear();
      OPENSSL_cleanse(slot.key, sizeof slot.key);
      OPENSSL_cleanse(slot.ownKey, sizeof slot.ownKey);
    }
    if (slot.used && slot.tag == tag) s = &slot;
  }
  if (!s) return SealReject::kAuth;
  const uint64_t sender = Ld64(p + 8), counter = Ld64(p + 16);
  if (counter == 0) return SealReject::kAuth;
  auto it = s->senders.find(sender);
  Window* w = it == s->senders.end() ? nullptr : &it->second;
  // A replay is recognised before any decryption work.
  if (w && Seen(*w, counter)) return SealReject::kReplay;
  uint8_t derived[kKeyBytes];
  const uint8_t* key = w ? w->key : derived;
  if (!w) SenderKey(s->key, sender, derived);

  const size_t textLen = n - kSealOverhead;
  uint8_t nonce[kNonceBytes];
  Nonce(counter, nonce);
  uint8_t tagBytes[kSealTagBytes];
  std::memcpy(tagBytes, p + kSealHeaderBytes + textLen, kSealTagBytes);
  EVP_CIPHER_CTX* c = Ctx(dec_);
  int len = 0, tail = 0;
  const bool good = EVP_DecryptInit_ex(c, nullptr, nullptr, key, nonce) == 1 &&
                    EVP_DecryptUpdate(c, nullptr, &len, p, int(kSealHeaderBytes)) == 1 &&
                    EVP_DecryptUpdate(c, p + kSealHeaderBytes, &len, p + kSealHeaderBytes, int(textLen)) == 1 &&
                    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, int(kSealTagBytes), tagBytes) == 1 &&
                    EVP_DecryptFinal_ex(c, p + kSealHeaderBytes + len, &tail) == 1;
  // A key holder's datagram must also name itself truly inside.
  if (!good || Ld64(p + kSealHeaderBytes + 8) != sender) {
    OPENSSL_cleanse(derived, sizeof derived);
    return SealReject::kAuth;
  }
  if (!w) w = Admit(*s, sender, derived, nowNs);
  OPENSSL_cleanse(derived, sizeof derived);
  w->lastNs = nowNs;
  Mark(*w, counter);
  *plainLen = textLen;
  return SealReject::kNone;
}

}  // namespace troupe
