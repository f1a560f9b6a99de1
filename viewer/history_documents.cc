// The documents of the tool and the viewer (wfstore/history_documents.h).

#include "wfstore/history_documents.h"

#include <charconv>
#include <string>
#include <system_error>
#include <type_traits>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/salvage.h"
#include "wfstore/time_format.h"
#ifdef WFSTORE_WITH_KAFKA
#include "wfstore/kafka_exporter.h"
#endif

namespace wfstore {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool leap(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30,
                                       31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at `*pos` into `*out`.
bool digits(std::string_view text, std::size_t* pos, std::size_t n,
            unsigned* out) {
  if (*pos + n > text.size()) return false;
  unsigned value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = text[*pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  *pos += n;
  *out = value;
  return true;
}

bool expect(std::string_view text, std::size_t* pos, char c) {
  if (*pos >= text.size() || text[*pos] != c) return false;
  ++*pos;
  return true;
}

// What an event did, per payload type.
using Line = EventSummary;

std::string wf(const std::string& id) { return "workflow:" + id; }
std::string stage(const std::string& id) { return "stage:" + id; }
std::string delivery(std::uint64_t id) {
  return fmt::format("delivery:{}", id);
}
std::string time(const std::optional<std::int64_t>& ms) {
  return ms ? format_time_ms(*ms) : "-";
}

Line describe(const WorkflowStored& e) {
  return {wf(e.workflow.id), fmt::format("stored: status {}, {} stages",
                                         status_name(e.workflow.status),
                                         e.workflow.stages.size())};
}
Line describe(const WorkflowStatusUpdated& e) {
  std::string what = fmt::format("status {}", status_name(e.status));
  if (e.is_canceled) what += ", canceled";
  if (e.paused) what += ", paused";
  return {wf(e.workflow_id), what};
}
Line describe(const WorkflowStatusSet& e) {
  return {wf(e.workflow_id),
          fmt::format("status {} (start {}, end {})", status_name(e.status),
                      time(e.start_time), time(e.end_time))};
}
Line describe(const WorkflowPaused& e) {
  return {wf(e.workflow_id), "paused by " + e.paused_by};
}
Line describe(const WorkflowResumed& e) {
  return {wf(e.workflow_id), "resumed"};
}
Line describe(const WorkflowCancelRequested& e) {
  return {wf(e.workflow_id),
          fmt::format("cancel requested by {}: {}", e.canceled_by, e.reason)};
}
Line describe(const WorkflowDeleted& e) {
  return {wf(e.workflow_id), "deleted"};
}
Line describe(const StageAdded& e) {
  return {stage(e.stage.id),
          fmt::format("added {}: status {}, version {}", e.stage.ref_id,
                      status_name(e.stage.status), e.stage.version)};
}
Line describe(const StageUpdated& e) {
  std::string what =
      fmt::format("status {}, version {}", status_name(e.status), e.version);
  for (const TaskExecution& task : e.tasks) {
    what += fmt::format(", task {} {}", task.id, status_name(task.status));
  }
  return {stage(e.stage_id), what};
}
Line describe(const StageRemoved& e) { return {stage(e.stage_id), "removed"}; }
Line describe(const MessageProcessed& e) {
  return {wf(e.execution_id.value_or("")),
          fmt::format("message {} processed by {}", e.message_id,
                      e.handler_type.value_or("-"))};
}
Line describe(const ProcessedMessagesPurged& e) {
  return {"-", fmt::format("{} processed marks before {} purged", e.count,
                           format_time_ms(e.cutoff))};
}
Line describe(const ClaimAcquired& e) {
  return {stage(e.stage_id), "claim " + e.claim_key + " acquired"};
}
Line describe(const ClaimTransferred& e) {
  return {stage(e.to_stage_id), fmt::format("claim {} taken over from {}",
                                            e.claim_key, e.from_stage_id)};
}
Line describe(const ClaimsPurged& e) {
  return {"-", fmt::format("{} claims purged", e.claims.size())};
}
Line describe(const MessagePushed& e) {
  return {delivery(e.delivery_id),
          fmt::format("pushed {}, due {}", e.message_type,
                      format_time_ms(e.deliver_at))};
}
Line describe(const MessageLeased& e) {
  return {delivery(e.delivery_id),
          fmt::format("leased, attempt {}, until {}", e.attempt,
                      format_time_ms(e.lease_until))};
}
Line describe(const MessageAcked& e) {
  return {delivery(e.delivery_id), "acked"};
}
Line describe(const MessageRescheduled& e) {
  return {delivery(e.delivery_id),
          "rescheduled to " + format_time_ms(e.deliver_at)};
}
Line describe(const MessageLeaseExtended& e) {
  return {delivery(e.delivery_id),
          "lease extended to " + format_time_ms(e.lease_until)};
}
Line describe(const MessageDeadLettered& e) {
  return {delivery(e.delivery_id), "dead-lettered: " + e.error};
}
Line describe(const DeadLetterReplayed& e) {
  return {delivery(e.delivery_id),
          fmt::format("replayed as delivery {}", e.new_delivery_id)};
}
Line describe(const QueueCleared&) { return {"-", "queue cleared"}; }
Line describe(const DeadLetterQueueCleared&) {
  return {"-", "dead letters cleared"};
}

nlohmann::json change_to_json(const FieldChange& change) {
  return {{"entity",
           {{"kind", entity_kind_name(change.entity.kind)},
            {"id", change.entity.id}}},
          {"field", change.field},
          {"before", change.before},
          {"after", change.after},
          {"lsn", change.lsn},
          {"timestamp", change.timestamp_ms},
          {"type", event_type_name(change.type)},
          {"audit", audit_to_json(change.audit)}};
}

#ifdef WFSTORE_WITH_KAFKA
nlohmann::json exports_to_json(const std::vector<KafkaExportStatus>& exports) {
  nlohmann::json out = nlohmann::json::array();
  for (const KafkaExportStatus& e : exports) {
    if (!e.damage.empty()) {
      out.push_back({{"topic", e.topic}, {"damage", e.damage}});
      continue;
    }
    out.push_back({{"topic", e.topic},
                   {"cluster_id", e.cluster_id},
                   {"exported_lsn", e.lag.exported_lsn},
                   {"lag_lsns", e.lag.lag_lsns},
                   {"lag_seconds", e.lag.lag_seconds}});
  }
  return out;
}
#endif

}  // namespace

std::optional<std::uint64_t> parse_decimal_u64(std::string_view text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  if (text.empty() || text.front() < '0' || text.front() > '9') {
    return std::nullopt;
  }
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end) return std::nullopt;
  return value;
}

std::optional<std::int64_t> parse_iso_time_ms(std::string_view text) {
  std::size_t pos = 0;
  unsigned year = 0;
  unsigned month = 0;
  unsigned day = 0;
  unsigned hour = 0;
  unsigned minute = 0;
  unsigned second = 0;
  if (!digits(text, &pos, 4, &year) || !expect(text, &pos, '-') ||
      !digits(text, &pos, 2, &month) || !expect(text, &pos, '-') ||
      !digits(text, &pos, 2, &day)) {
    return std::nullopt;
  }
  if (pos >= text.size() || (text[pos] != 'T' && text[pos] != ' ')) {
    return std::nullopt;
  }
  ++pos;
  if (!digits(text, &pos, 2, &hour) || !expect(text, &pos, ':') ||
      !digits(text, &pos, 2, &minute) || !expect(text, &pos, ':') ||
      !digits(text, &pos, 2, &second)) {
    return std::nullopt;
  }
  std::int64_t millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::size_t n = 0;
    for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos) {
      if (n < 3) millis = millis * 10 + (text[pos] - '0');
      ++n;
    }
    if (n == 0 || n > 9) return std::nullopt;
    for (; n < 3; ++n) millis *= 10;
  }
  std::int64_t offset_minutes = 0;
  if (pos < text.size() && text[pos] == 'Z') {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const bool minus = text[pos] == '-';
    ++pos;
    unsigned oh = 0;
    unsigned om = 0;
    if (!digits(text, &pos, 2, &oh) || !expect(text, &pos, ':') ||
        !digits(text, &pos, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = (minus ? -1 : 1) * static_cast<std::int64_t>(oh * 60 + om);
  } else {
    return std::nullopt;  // no zone: ambiguous
  }
  if (pos != text.size()) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
      hour > 23 || minute > 59 || second > 59) {
    return std::nullopt;
  }
  const std::int64_t days = days_from_civil(year, month, day);
  const std::int64_t seconds = days * 86400 + std::int64_t{hour} * 3600 +
                               std::int64_t{minute} * 60 + second -
                               offset_minutes * 60;
  return seconds * 1000 + millis;
}

std::optional<PointArg> parse_point(std::string_view text) {
  if (const std::optional<std::uint64_t> lsn = parse_decimal_u64(text)) {
    return PointArg{true, *lsn, 0};
  }
  if (const std::optional<std::int64_t> ms = parse_iso_time_ms(text)) {
    return PointArg{false, 0, *ms};
  }
  return std::nullopt;
}

std::uint64_t resolve_point(const History& history, std::string_view text) {
  const std::optional<PointArg> point = parse_point(text);
  if (!point) {
    throw InvalidArgumentError(
        fmt::format("'{}' is not {}", text, kPointForms));
  }
  const std::uint64_t end = history.current_lsn();
  if (!point->is_lsn) return history.lsn_at_time(point->time_ms);
  if (point->lsn > end) {
    throw PointNotFoundError(
        fmt::format("LSN {} is beyond the end of the store (its "
                    "last LSN is {})",
                    point->lsn, end));
  }
  return point->lsn;
}

std::uint64_t resolve_as_of(const History& history, std::string_view text) {
  const std::uint64_t lsn = resolve_point(history, text);
  return lsn == 0 ? 0 : history.commit_end(lsn);
}

nlohmann::json audit_to_json(const AuditMetadata& audit) {
  return {{"actor", audit.actor},
          {"correlation_id", audit.correlation_id},
          {"causation_id", audit.causation_id},
          {"source", audit.source}};
}

WorkflowAsOf read_workflow_as_of(Database& database,
                                 std::string_view workflow_id,
                                 std::string_view at) {
  validate_key(workflow_id, "workflow_id");
  const History history(database);
  WorkflowAsOf out;
  if (at.empty()) {
    // The views now; read between two equal LSNs, else as of the later one.
    const std::uint64_t before = history.current_lsn();
    try {
      out.workflow = database.workflow_store().retrieve(workflow_id);
    } catch (const WorkflowNotFoundError&) {
    }
    out.as_of_lsn = history.current_lsn();
    if (out.as_of_lsn != before) {
      out.workflow = history.workflow_as_of(workflow_id, out.as_of_lsn);
    }
    return out;
  }
  out.as_of_lsn = resolve_as_of(history, at);
  if (out.as_of_lsn != 0) {
    out.workflow = history.workflow_as_of(workflow_id, out.as_of_lsn);
  }
  return out;
}

nlohmann::json workflow_document(const Workflow& workflow,
                                 std::uint64_t as_of_lsn) {
  nlohmann::json doc = workflow_to_json(workflow);
  doc["as_of_lsn"] = as_of_lsn;
  return doc;
}

nlohmann::json diff_document(const WorkflowDiff& diff) {
  nlohmann::json changes = nlohmann::json::array();
  for (const FieldChange& change : diff.changes) {
    changes.push_back(change_to_json(change));
  }
  return nlohmann::json{{"workflow_id", diff.workflow_id},
                        {"from_lsn", diff.from_lsn},
                        {"to_lsn", diff.to_lsn},
                        {"changes", changes}};
}

bool has_workflow_events(const History& history, std::string_view workflow_id) {
  EventQuery query;
  query.workflow_id = std::string(workflow_id);
  query.limit = 1;
  return !history.events(query).empty();
}

EventSummary summarize_event(const Event& event) {
  return std::visit([](const auto& p) { return describe(p); }, event.payload);
}

nlohmann::json salvage_brief(const std::optional<nlohmann::json>& record) {
  if (!record) return nullptr;
  nlohmann::json brief = nlohmann::json::object();
  for (const char* key : {"source_store_id", "last_lsn", "highest_known_lsn",
                          "lost_events", "nothing_lost"}) {
    if (record->contains(key)) brief[key] = record->at(key);
  }
  return brief;
}

nlohmann::json stats_document(
    Database& database, const StoreSummary& s,
    const std::optional<nlohmann::json>& salvage_record) {
  nlohmann::json tables = nlohmann::json::object();
  for (const auto& [name, entries] : s.tables) tables[name] = entries;
  nlohmann::json by_type = nlohmann::json::object();
  for (const auto& [type, count] : s.events_by_type) {
    by_type[std::string(event_type_name(type))] = count;
  }
  nlohmann::json origin = nullptr;
  if (s.origin) {
    origin = {{"source_store_id", s.origin->source_store_id},
              {"lsn", s.origin->lsn}};
  }
  nlohmann::json doc = {{"store_id", s.store_id},
                        {"fork_of", origin},
                        {"salvage", salvage_brief(salvage_record)},
                        {"workflows", s.workflows},
                        {"events", s.events},
                        {"tables", tables},
                        {"events_by_type", by_type},
                        {"log_segments", s.log_segments},
                        {"log_bytes", s.log_bytes},
                        {"applied_lsn", s.applied_lsn},
                        {"durable_lsn", s.durable_lsn},
                        {"view_checksum", s.view_checksum},
                        {"map_bytes", s.map_bytes},
                        {"map_used_bytes", s.map_used_bytes}};
#ifdef WFSTORE_WITH_KAFKA
  doc["exports"] = exports_to_json(read_export_positions(database));
#else
  static_cast<void>(database);
#endif
  return doc;
}

nlohmann::json stats_document(Database& database,
                              const std::filesystem::path& dir) {
  return stats_document(database, summarize_store(database),
                        read_salvage_record(dir));
}

}  // namespace wfstore
