// Subjects a member wants (ts/subjects.ts: its subscriptions' patterns), so
// that the engine drops the fifo and unordered subject messages nobody here
// subscribed to before they reach JS: their seqs go up in one `skipped`
// record per run (boundary.h), not a message record each.
//
// A pre-filter: NATS's rules as subjects.ts applies them (tokens split at
// dots, `*` one token, `>` the rest, a first token starting with `$` matched
// only by a pattern naming it), on the subject's bytes. Whatever it lets
// through, JS matches again (and drops what is malformed); it never drops a
// well-formed subject that a pattern matches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace troupe {

// The room byte of a subject message (ts/subjects.ts ROOM_SUBJECTS): a subject
// message is `3 | u8 n | n bytes of subject | the application's bytes`.
constexpr uint8_t kRoomSubjects = 3;

class SubjectFilter {
 public:
  explicit SubjectFilter(const std::vector<std::string>& patterns);
  // Does any pattern match the subject `s[0, n)`?
  bool Wants(const uint8_t* s, size_t n);
  // A message the engine may drop here: fifo or unordered, whole, a subject
  // message, and no pattern matches its subject.
  bool Drops(uint8_t order, uint8_t frag, const uint8_t* data, size_t n);

 private:
  bool Match(const uint8_t* s, size_t n) const;
  std::vector<std::vector<std::string>> patterns_;
  // Subjects seen, by a hash of their bytes (direct-mapped: a collision
  // replaces the entry).
  struct Seen {
    uint64_t hash = 0;
    std::string subject;
    bool wanted = false;
  };
  static constexpr size_t kCache = 4096;
  std::vector<Seen> seen_;
};

}  // namespace troupe
