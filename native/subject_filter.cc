// The engine's subject pre-filter (subject_filter.h).
#include "subject_filter.h"

#include <cstring>

#include "boundary.h"

namespace troupe {

namespace {

// The tokens of `s[0, n)`, split at dots (empty tokens kept).
std::vector<std::string> Tokens(const char* s, size_t n) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '.') out.emplace_back();
    else out.back().push_back(s[i]);
  }
  return out;
}

}  // namespace

SubjectFilter::SubjectFilter(const std::vector<std::string>& patterns) : seen_(kCache) {
  for (const std::string& p : patterns) patterns_.push_back(Tokens(p.data(), p.size()));
}

bool SubjectFilter::Match(const uint8_t* s, size_t n) const {
  const char* c = reinterpret_cast<const char*>(s);
  const std::vector<std::string> subject = Tokens(c, n);
  const bool library = !subject[0].empty() && subject[0][0] == '$';
  for (const auto& pattern : patterns_) {
    if (library && pattern[0] != subject[0]) continue;  // the library's own: named only
    bool match = true;
    size_t i = 0;
    for (; i < pattern.size(); i++) {
      const std::string& p = pattern[i];
      if (p == ">") break;
      if (i >= subject.size() || (p != "*" && p != subject[i])) { match = false; break; }
    }
    if (!match) continue;
    if (i < pattern.size()) { if (subject.size() > i) return true; }  // '>': one token or more
    else if (pattern.size() == subject.size()) return true;
  }
  return false;
}

bool SubjectFilter::Wants(const uint8_t* s, size_t n) {
  if (patterns_.empty()) return false;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
  Seen& e = seen_[h % kCache];
  if (e.hash == h && e.subject.size() == n && std::memcmp(e.subject.data(), s, n) == 0) return e.wanted;
  e.hash = h;
  e.subject.assign(reinterpret_cast<const char*>(s), n);
  e.wanted = Match(s, n);
  return e.wanted;
}

bool SubjectFilter::Drops(uint8_t order, uint8_t frag, const uint8_t* data, size_t n) {
  if (frag != kFrag_whole || (order != (kOrder_fifo | kOrderRoom) && order != (kOrder_unordered | kOrderRoom))) return false;
  if (n < 2 || data[0] != kRoomSubjects || data[1] == 0 || size_t(data[1]) + 2 > n) return false;
  return !Wants(data + 2, data[1]);
}

}  // namespace troupe
