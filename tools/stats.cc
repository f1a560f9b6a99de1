// `wfstore stats --dir D [--json]`: a store at a glance (summarize_store):
// entries per view table, events per type, the log's size, the applied and
// durable LSNs, the view checksum and the LMDB map's fill; for a fork or a
// salvage, its origin (and a salvage's loss); in a Kafka build the Kafka
// export positions with their lag (read_export_positions) and their
// Prometheus lines. Read-only.

#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "wfstore/history.h"
#include "wfstore/history_documents.h"
#include "wfstore/salvage.h"
#ifdef WFSTORE_WITH_KAFKA
#include "wfstore/kafka_exporter.h"
#endif

#include "tools/cli_support.h"
#include "tools/commands.h"

namespace wfstore::tools {
namespace {

void print_summary(const StoreSummary& s,
                   const std::optional<nlohmann::json>& salvage) {
  std::cout << fmt::format("store id:       {}\n", s.store_id);
  if (s.origin && salvage) {
    const nlohmann::json brief = salvage_brief(salvage);
    std::cout << fmt::format(
        "salvage of:     {} up to lsn {}; {} (the store's SALVAGE file has "
        "the report)\n",
        s.origin->source_store_id, s.origin->lsn,
        brief.value("nothing_lost", false)
            ? std::string("nothing lost")
            : fmt::format("lost {} events through lsn {}",
                          brief.value("lost_events", std::uint64_t{0}),
                          brief.value("highest_known_lsn", std::uint64_t{0})));
  } else if (s.origin) {
    std::cout << fmt::format("fork of:        {} at lsn {}\n",
                             s.origin->source_store_id, s.origin->lsn);
  }
  const double fill = s.map_bytes == 0
                          ? 0.0
                          : 100.0 * static_cast<double>(s.map_used_bytes) /
                                static_cast<double>(s.map_bytes);
  std::cout << fmt::format(
      "workflows:      {}\n"
      "events:         {}\n"
      "applied lsn:    {}\n"
      "durable lsn:    {}\n"
      "view checksum:  {}\n"
      "log:            {} segments, {} bytes\n"
      "map:            {} of {} bytes used ({:.2f}%)\n",
      s.workflows, s.events, s.applied_lsn, s.durable_lsn, s.view_checksum,
      s.log_segments, s.log_bytes, s.map_used_bytes, s.map_bytes, fill);
  std::cout << "tables:\n";
  for (const auto& [name, entries] : s.tables) {
    std::cout << fmt::format("  {:<24} {:>12}\n", name, entries);
  }
  std::cout << "events by type:\n";
  for (const auto& [type, count] : s.events_by_type) {
    std::cout << fmt::format("  {:<24} {:>12}\n", event_type_name(type), count);
  }
}

#ifdef WFSTORE_WITH_KAFKA
void print_exports(const std::vector<KafkaExportStatus>& exports) {
  if (exports.empty()) return;
  std::cout << "kafka exports:\n";
  for (const KafkaExportStatus& e : exports) {
    if (!e.damage.empty()) {
      std::cout << fmt::format("  {:<24} damaged: {}\n", e.topic, e.damage);
      continue;
    }
    std::cout << fmt::format(
        "  {:<24} cluster {}: exported lsn {}, lag {} lsns, {:.3f} s\n",
        e.topic, e.cluster_id, e.lag.exported_lsn, e.lag.lag_lsns,
        e.lag.lag_seconds);
  }
  std::cout << export_metric_lines(exports);
}
#endif

}  // namespace

void add_stats_command(CLI::App& app, Action& action) {
  auto dir = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "stats",
      "Print counts per table and event type, log size, applied and durable "
      "LSN, view checksum and map fill");
  cmd->add_option("--dir", *dir, "The store directory")->required();
  cmd->add_flag("--json", *json, "Print one JSON document");
  action = [dir, json] {
    auto db = open_store(*dir);
    const StoreSummary summary = summarize_store(*db);
    const std::optional<nlohmann::json> salvage = read_salvage_record(*dir);
    // Everything is shown; a damaged export position then makes the exit
    // status kExitDamaged.
    bool damaged = false;
    if (*json) {
      const nlohmann::json doc = stats_document(*db, summary, salvage);
      std::cout << doc.dump() << '\n';
      for (const nlohmann::json& e : doc.value("exports", nlohmann::json())) {
        damaged = damaged || e.contains("damage");
      }
    } else {
      print_summary(summary, salvage);
#ifdef WFSTORE_WITH_KAFKA
      const std::vector<KafkaExportStatus> exports = read_export_positions(*db);
      print_exports(exports);
      for (const KafkaExportStatus& e : exports) {
        damaged = damaged || !e.damage.empty();
      }
#endif
    }
    return damaged ? kExitDamaged : kExitOk;
  };
}

}  // namespace wfstore::tools
