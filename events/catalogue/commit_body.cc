// The commit body codec: the audit metadata and the events of one commit (the
// grammar's "body" in wfstore_internal/event_codec.h).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <cereal/details/helpers.hpp>
#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/event.h"
#include "wfstore/limits.h"

#include "events/catalogue/codec_primitives.h"
#include "events/catalogue/event_registry.h"
#include "events/catalogue/value_codec.h"
#include "wfstore_internal/event_codec.h"

namespace wfstore {
namespace {

using codec::Reader;
using codec::Writer;

// type, version, workflow_id length, payload length, endian tag.
constexpr std::size_t kMinEventBytes = 2 + 2 + 1 + 1 + 1;

void write_event(Writer& w, EventType type, std::uint16_t version,
                 std::string_view workflow_id, std::string_view payload) {
  w.u16(static_cast<std::uint16_t>(type));
  w.u16(version);
  w.bytes(workflow_id);
  w.bytes(payload);
}

}  // namespace

std::string encode_commit_body(const AuditMetadata& audit,
                               const std::vector<EventPayload>& payloads) {
  if (payloads.empty()) {
    throw InvalidArgumentError("commit: must hold at least one event");
  }
  if (payloads.size() > kMaxCommitEvents) {
    throw InvalidArgumentError(
        fmt::format("commit: {} events exceed the limit of {}", payloads.size(),
                    kMaxCommitEvents));
  }
  std::string body;
  body.push_back(static_cast<char>(kCommitBodyFormatVersion));
  Writer w(body);
  codec::put(w, audit);
  w.varint(payloads.size());
  std::string bytes;
  std::optional<Writer> payload_writer;
  for (const EventPayload& payload : payloads) {
    bytes.clear();
    if (payload_writer) {
      payload_writer->restart(bytes);
    } else {
      payload_writer.emplace(bytes);
    }
    std::visit([&](const auto& p) { codec::put(*payload_writer, p); }, payload);
    write_event(w, event_type(payload),
                std::visit([](const auto& p) { return p.kVersion; }, payload),
                event_workflow_id(payload), bytes);
  }
  if (body.size() > kMaxCommitBytes) {
    throw InvalidArgumentError(
        fmt::format("commit: {} bytes exceed the limit of {} bytes",
                    body.size(), kMaxCommitBytes));
  }
  return body;
}

DecodedCommit decode_commit_body(std::uint64_t first_lsn,
                                 std::int64_t timestamp_ms,
                                 std::size_t event_count,
                                 std::string_view body) {
  return CommitDecoder().decode(first_lsn, timestamp_ms, event_count, body);
}

struct CommitDecoder::Readers {
  std::optional<Reader> body;
  std::optional<Reader> payload;
};

CommitDecoder::CommitDecoder() : readers_(std::make_unique<Readers>()) {}
CommitDecoder::~CommitDecoder() = default;
CommitDecoder::CommitDecoder(CommitDecoder&&) noexcept = default;
CommitDecoder& CommitDecoder::operator=(CommitDecoder&&) noexcept = default;

DecodedCommit CommitDecoder::decode(std::uint64_t first_lsn,
                                    std::int64_t timestamp_ms,
                                    std::size_t event_count,
                                    std::string_view body) {
  if (body.empty()) {
    throw CorruptionError("commit body: empty");
  }
  const auto format = static_cast<std::uint8_t>(body[0]);
  if (format != kCommitBodyFormatVersion) {
    throw CorruptionError(fmt::format(
        "commit body: format version {} is {} (supported: {})", format,
        format > kCommitBodyFormatVersion ? "newer than supported" : "invalid",
        kCommitBodyFormatVersion));
  }
  DecodedCommit commit;
  std::optional<Reader>& payload_reader = readers_->payload;
  try {
    if (readers_->body) {
      readers_->body->restart(body.substr(1), 1);
    } else {
      readers_->body.emplace(body.substr(1), "commit body", 1);
    }
    Reader& r = *readers_->body;
    codec::get_fields(r, commit.audit);
    const std::size_t count = r.count("event_count", kMinEventBytes);
    if (count != event_count) {
      r.fail("event_count", fmt::format("holds {} events, the log says {}",
                                        count, event_count));
    }
    if (count == 0) r.fail("event_count", "a commit holds at least one event");
    if (count > kMaxCommitEvents) {
      r.fail("event_count", fmt::format("{} events exceed the limit of {}",
                                        count, kMaxCommitEvents));
    }
    commit.events.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t offset = body.size() - r.remaining();
      // The event's type and schema version once read, for an error's text.
      std::optional<std::pair<EventType, std::uint16_t>> header;
      try {
        const auto type = static_cast<EventType>(r.u16("event.type"));
        const std::uint16_t version = r.u16("event.schema_version");
        header.emplace(type, version);
        std::string workflow_id = r.str("event.workflow_id");
        const std::string_view payload = r.bytes("event.payload");
        EventPayload decoded = catalogue::decode_payload_with(
            type, version, payload, payload_reader);
        std::string derived = event_workflow_id(decoded);
        if (derived != workflow_id) {
          throw CorruptionError(
              fmt::format("envelope workflow_id '{}' differs from the "
                          "payload's '{}'",
                          workflow_id, derived));
        }
        commit.events.push_back(Event{first_lsn + i, first_lsn, timestamp_ms,
                                      std::move(workflow_id), commit.audit,
                                      std::move(decoded)});
      } catch (const CorruptionError& e) {
        const std::string context =
            header ? fmt::format("event {} ({} v{})", i,
                                 catalogue::describe_event_type(header->first),
                                 header->second)
                   : fmt::format("event {}", i);
        throw CorruptionError(fmt::format("commit body byte {}: {}: {}", offset,
                                          context, e.what()));
      }
    }
    r.expect_end();
  } catch (const cereal::Exception& e) {
    throw CorruptionError(fmt::format("commit body: {}", e.what()));
  }
  return commit;
}

std::string encode_event_for_testing(EventType type,
                                     std::uint16_t schema_version,
                                     std::string_view workflow_id,
                                     std::string_view payload) {
  std::string out;
  Writer w(out);
  write_event(w, type, schema_version, workflow_id, payload);
  return out.substr(1);
}

std::string encode_body_for_testing(
    const AuditMetadata& audit,
    const std::vector<std::string>& encoded_events) {
  std::string body;
  body.push_back(static_cast<char>(kCommitBodyFormatVersion));
  Writer w(body);
  codec::put(w, audit);
  w.varint(encoded_events.size());
  for (const std::string& event : encoded_events) body += event;
  return body;
}

}  // namespace wfstore
