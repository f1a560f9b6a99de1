// Fuzz target `event`: the event decoder over an arbitrary commit body.
//
// Input: a commit body (format byte, endian tag, audit, event count, events;
// wfstore_internal/event_codec.h). The event count the log would record is the
// one the body declares (read leniently here), so mutations get past the
// count check. Any wfstore::Error is an accepted answer.
//
// Properties checked (a violation aborts): a body that decodes re-encodes to
// exactly its own bytes (the encoding is canonical, so the decoder accepts one
// encoding per value), each payload decodes alone to the same event, and every
// decoded event renders as JSON text (event_to_json(), what the CLI and the
// Kafka exporter print).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "wfstore/errors.h"
#include "wfstore/event.h"

#include "tests/fuzz/fuzz_check.h"
#include "wfstore_internal/event_codec.h"

namespace wfstore {
namespace {

// The event count a body declares after its audit strings, or 1 when it is
// too short to say.
std::size_t declared_count(std::string_view body) {
  std::size_t pos = 2;  // format byte and endian tag
  const auto varint = [&](std::uint64_t* out) {
    *out = 0;
    for (int shift = 0; shift < 64 && pos < body.size(); shift += 7) {
      const auto byte = static_cast<std::uint8_t>(body[pos++]);
      *out |= std::uint64_t{byte & 0x7fU} << shift;
      if ((byte & 0x80U) == 0) return true;
    }
    return false;
  };
  std::uint64_t n = 0;
  for (int i = 0; i < 4; ++i) {
    if (!varint(&n) || n > body.size() - pos) return 1;
    pos += static_cast<std::size_t>(n);
  }
  if (!varint(&n) || n > body.size()) return 1;
  return static_cast<std::size_t>(n);
}

}  // namespace

void fuzz_string(std::string_view body) {
  constexpr std::uint64_t kFirstLsn = 1000;
  constexpr std::int64_t kTimestamp = 1700000000000;
  DecodedCommit commit;
  try {
    commit =
        decode_commit_body(kFirstLsn, kTimestamp, declared_count(body), body);
  } catch (const Error&) {
    return;
  }
  std::vector<EventPayload> payloads;
  for (const Event& event : commit.events) {
    payloads.push_back(event.payload);
    const EventPayload alone = decode_payload(
        event.type(), event.schema_version(), encode_payload(event.payload));
    FUZZ_CHECK(alone == event.payload,
               "a decoded payload re-encodes and decodes to itself");
    (void)event_to_json(event).dump();
  }
  FUZZ_CHECK(encode_commit_body(commit.audit, payloads) == body,
             "a decoded commit body re-encodes to the same bytes");
}

}  // namespace wfstore
