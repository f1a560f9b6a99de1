// decode_kafka_record (wfstore/kafka_record.h).

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "wfstore/kafka_record.h"
#include "wfstore/limits.h"

#include "wfstore_internal/store_dir.h"

namespace wfstore {
namespace {

[[noreturn]] void foreign(std::string_view reason) {
  throw ForeignRecordError(
      fmt::format("not a wfstore event record: {}", reason));
}

// The value of header `name`, which must occur exactly once.
const std::string& header(const KafkaRecord& record, std::string_view name) {
  const std::string* found = nullptr;
  for (const auto& [key, value] : record.headers) {
    if (key != name) continue;
    if (found != nullptr) foreign(fmt::format("header {} repeated", name));
    found = &value;
  }
  if (found == nullptr) foreign(fmt::format("no {} header", name));
  return *found;
}

std::uint64_t decimal_header(const KafkaRecord& record, std::string_view name) {
  const std::string& text = header(record, name);
  std::uint64_t value = 0;
  const auto [end, error] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() ||
      end != text.data() + text.size() || (text.size() > 1 && text[0] == '0')) {
    foreign(fmt::format("header {} '{}' is not a decimal number", name, text));
  }
  return value;
}

bool is_lower_hex(std::string_view text) {
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

DecodedRecord decode_kafka_record(const KafkaRecord& record) {
  const std::uint64_t lsn = decimal_header(record, kHeaderLsn);
  const std::string& type = header(record, kHeaderType);
  const std::uint64_t schema_version =
      decimal_header(record, kHeaderSchemaVersion);
  DecodedRecord out;
  out.store_id = header(record, kHeaderStoreId);
  if (!StoreId::parse(out.store_id)) {
    foreign(fmt::format("header {} '{}' is not a store id", kHeaderStoreId,
                        out.store_id));
  }
  out.commit_hash = header(record, kHeaderCommitHash);
  if (out.commit_hash.size() != 64 || !is_lower_hex(out.commit_hash)) {
    foreign(fmt::format("header {} is not 64 lowercase hex digits",
                        kHeaderCommitHash));
  }
  out.commit_last_lsn = decimal_header(record, kHeaderCommitLastLsn);
  const nlohmann::json value =
      nlohmann::json::parse(record.value, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) foreign("the value is not JSON text");
  try {
    out.event = event_from_json(value);
  } catch (const CorruptionError& e) {
    foreign(fmt::format("lsn {}: {}", lsn, e.what()));
  }
  if (out.event.lsn != lsn) {
    foreign(fmt::format("header {} {} differs from the value's lsn {}",
                        kHeaderLsn, lsn, out.event.lsn));
  }
  if (event_type_name(out.event.type()) != type) {
    foreign(fmt::format("lsn {}: header {} '{}' differs from the value's '{}'",
                        lsn, kHeaderType, type,
                        event_type_name(out.event.type())));
  }
  if (out.event.schema_version() != schema_version) {
    foreign(fmt::format("lsn {}: header {} {} differs from the value's {}", lsn,
                        kHeaderSchemaVersion, schema_version,
                        out.event.schema_version()));
  }
  if (out.commit_last_lsn < lsn) {
    foreign(fmt::format("lsn {}: header {} {} is before the event", lsn,
                        kHeaderCommitLastLsn, out.commit_last_lsn));
  }
  if (out.commit_last_lsn - out.event.commit_id >= kMaxCommitEvents) {
    foreign(
        fmt::format("lsn {}: header {} {} makes commit {} longer than {} "
                    "events",
                    lsn, kHeaderCommitLastLsn, out.commit_last_lsn,
                    out.event.commit_id, kMaxCommitEvents));
  }
  const std::string& expected_key =
      out.event.workflow_id.empty() ? out.store_id : out.event.workflow_id;
  if (record.key != expected_key) {
    foreign(fmt::format("lsn {}: key '{}' is not '{}'", lsn, record.key,
                        expected_key));
  }
  return out;
}

}  // namespace wfstore
