// The engine's counters. One list, so that C++ and JS agree on the order:
// the addon exports the names and JS reads the values from shared memory.
#pragma once

#include <cstdint>

namespace troupe {

#define TROUPE_COUNTERS(X)                                                        \
  X(datagramsSent, "datagrams sent (multicast and unicast, all types)")           \
  X(datagramsReceived, "datagrams received from the sockets")                     \
  X(bytesSent, "bytes sent")                                                      \
  X(bytesReceived, "bytes received")                                              \
  X(messagesSent, "messages of ours sent for the first time")                     \
  X(messagesDelivered, "messages delivered to JS in order")                       \
  X(duplicates, "messages received that were already held or delivered")          \
  X(naksSent, "NAK datagrams sent")                                               \
  X(nakedSeqs, "sequence numbers asked for in NAKs we sent")                      \
  X(naksReceived, "NAK datagrams received for our stream")                        \
  X(retransmits, "datagrams retransmitted by us")                                 \
  X(xmitSuppressed, "retransmissions skipped because we just retransmitted")      \
  X(repaired, "messages that arrived after we had NAKed them")                    \
  X(unrecoverable, "messages a sender no longer had when we asked (skipped)")     \
  X(overrun, "messages beyond the receive window (dropped, re-asked later)")      \
  X(statusSent, "STATUS datagrams sent")                                          \
  X(statusDeltas, "of those, STATUS with only the acks that moved (every 8th carries all)") \
  X(windowFull, "times a send found the flow-control window full")                \
  X(logBytes, "bytes held in our retransmit log now (gauge)")                     \
  X(logPeakBytes, "most bytes ever held in our retransmit log (gauge)")           \
  X(stableSeq, "highest seq of ours that every member holds (gauge)")             \
  X(highestSent, "highest seq of ours sent (gauge)")                              \
  X(heldMessages, "messages held out of order or for a full ring (gauge)")        \
  X(rejectTruncated, "datagrams dropped: truncated")                              \
  X(rejectMagic, "datagrams dropped: not troupe (bad magic)")                     \
  X(rejectVersion, "datagrams dropped: other protocol version")                   \
  X(rejectLength, "datagrams dropped: length field differs from size")            \
  X(rejectMalformed, "datagrams dropped: inconsistent contents")                  \
  X(rejectForeign, "datagrams dropped: another group on the same port")           \
  X(rejectUnknownSender, "datagrams dropped: data from a sender not yet heard")   \
  X(sendErrors, "datagrams the kernel refused to send (repaired by NAK)")         \
  X(injectedLoss, "datagrams dropped by the test injector")                       \
  X(injectedDuplicates, "datagrams duplicated by the test injector")              \
  X(injectedReorders, "datagrams delayed by the test injector")                   \
  X(ringFullStalls, "times the inbound ring was full and receiving paused")       \
  X(wakeups, "JS wake-ups requested")                                            \
  X(controlSent, "membership (CONTROL) datagrams sent")                           \
  X(controlReceived, "membership (CONTROL) datagrams handed to JS")               \
  X(controlDropped, "CONTROL datagrams dropped: JS was not taking them (queue full)") \
  X(suspicions, "times a peer fell silent for suspectTimeout")                   \
  X(relayed, "datagrams of other senders we sent to a member that missed them")   \
  X(retainedBytes, "bytes of received datagrams kept for other members (gauge; one kept where it arrived counts its 64 KiB unit)") \
  X(rejectSeal, "datagrams dropped: closed group, not sealed with a key of ours or altered") \
  X(rejectReplay, "datagrams dropped: closed group, a sealed datagram seen before (replay)") \
  X(slowReceivers, "times a member held our full window for slowReceiverTimeout") \
  X(nakRefused, "NAKs dropped: not from a member we know, at its own address") \
  X(subjectsSkipped, "fifo and unordered subject messages no subscription here wants, dropped before JS (subject_filter.h)") \
  X(rejectNotForClient, "datagrams a client dropped: not CONTROL (a client takes part in no stream)") \
  X(xmitLimited, "retransmissions skipped: the asking member's budget was spent") \
  X(assemblyBytes, "bytes of messages larger than a datagram being put together now (gauge)") \
  X(assemblyDropped, "messages larger than a datagram dropped: a fragment out of its run, or past maxMessageSize") \
  X(window, "our flow-control window now, bytes (gauge; it follows message sizes and the measured path)") \
  X(ackRoundTripNs, "shortest round trip of our acks seen: a datagram sent until every member holds it (gauge)") \
  X(deliveryRate, "bytes/s at which every member took our stream, the last measured (gauge)") \
  X(keptDropped, "bytes kept for relaying dropped before every member held them (a sender's stream at its largest, or all senders' together at their bound)") \
  X(keptInPlace, "received datagrams kept for relaying where they arrived (large ones: the transport's unit taken, no copy)") \
  X(pinnedUnits, "receive units JS's records point into now (messageAt: a large datagram's messages reach JS without a copy into the ring; gauge)") \
  X(messagesReferenced, "messages handed to JS where they were received (messageAt records), not copied into the ring")

enum Counter : uint32_t {
#define TROUPE_COUNTER_ENUM(name, doc) k_##name,
  TROUPE_COUNTERS(TROUPE_COUNTER_ENUM)
#undef TROUPE_COUNTER_ENUM
  kCounterCount
};

}  // namespace troupe
