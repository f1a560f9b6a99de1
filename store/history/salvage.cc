// salvage_store: the log's salvageable chain into a new store
// (log::salvage_log), its ORIGIN, STORE and views, then the accounting of
// what was lost from every piece of evidence the source still holds.

#include "wfstore/salvage.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/file.h>
#include <unistd.h>

#include "wfstore/errors.h"

#include "store/commit_pipeline.h"
#include "store/history/new_store.h"
#include "wfstore_internal/atomic_file.h"
#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/lmdb_views.h"
#include "wfstore_internal/log_salvage.h"
#include "wfstore_internal/posix_error.h"
#include "wfstore_internal/store_dir.h"
#include "wfstore_internal/view_meta.h"

namespace wfstore {
namespace {

// Holds an advisory lock on an existing LOCK file opened read-only, so that
// no writer opens the store while it is salvaged; unlike
// FileSystem::try_lock it never creates the file. A missing LOCK means no
// writer has the store open (a writer creates it before anything else).
class ReadOnlyLock {
 public:
  explicit ReadOnlyLock(const std::filesystem::path& dir) {
    const std::filesystem::path path = dir / kLockFileName;
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      if (errno == ENOENT) return;
      throw_errno(path, "open");
    }
    int rc = 0;
    do {
      rc = ::flock(fd_, LOCK_EX | LOCK_NB);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      const int error = errno;
      ::close(fd_);
      fd_ = -1;
      if (error == EWOULDBLOCK) {
        throw StoreLockedError(fmt::format(
            "{}: store is locked by another writer: salvage reads a store "
            "offline; close its writer first (nothing was changed)",
            dir.string()));
      }
      errno = error;
      throw_errno(path, "flock");
    }
  }
  ReadOnlyLock(const ReadOnlyLock&) = delete;
  ReadOnlyLock& operator=(const ReadOnlyLock&) = delete;
  ~ReadOnlyLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_ = -1;
};

// The u64 under `key` of a meta dump, if present and well formed.
std::optional<std::uint64_t> meta_value(
    const std::map<std::string, std::string>& meta, std::string_view key) {
  const auto it = meta.find(std::string(key));
  if (it == meta.end() || it->second.size() != 8) return std::nullopt;
  return keys::decode_u64(it->second);
}

std::uint64_t be64(std::string_view bytes, std::size_t at) {
  return keys::decode_u64(bytes.substr(at, 8));
}

// The views of the source, when they can be trusted (the rule of an open:
// closed cleanly, or unclean in this boot, or written before VIEWS_STATE).
struct SourceViews {
  std::optional<std::uint64_t> applied_lsn;
  std::optional<std::uint64_t> durable_lsn;
  // (workflow id, lsn) of every indexed event with lsn > the salvaged end.
  std::vector<std::pair<std::string, std::uint64_t>> lost_events;
  bool index_read = false;
};

SourceViews read_source_views(const StoreDir& store,
                              const std::optional<ViewsState>& state,
                              std::uint64_t after_lsn, const Logger& logger) {
  SourceViews out;
  if (state && !state->clean && state->boot_id != current_boot_id()) {
    return out;  // possibly torn pages: not read
  }
  try {
    const auto meta = LmdbViews::read_meta_unlocked(store.views_dir());
    if (!meta) return out;
    out.applied_lsn = meta_value(*meta, kMetaAppliedLsn);
    out.durable_lsn = meta_value(*meta, kMetaDurableLsn);
    if (!out.applied_lsn || *out.applied_lsn <= after_lsn) return out;
    const auto index = LmdbViews::read_table_unlocked(store.views_dir(),
                                                      Table::kWorkflowEvents);
    const auto ids =
        LmdbViews::read_table_unlocked(store.views_dir(), Table::kIds);
    if (!index || !ids) return out;
    // surrogate -> string, from every `ids` entry (keys.h).
    std::map<std::uint64_t, std::string> names;
    for (const auto& [key, value] : *ids) {
      std::string_view rest = value;
      while (rest.size() >= 12) {
        const std::uint64_t surrogate = be64(rest, 0);
        const auto size = static_cast<std::size_t>(
            (static_cast<std::uint32_t>(static_cast<std::uint8_t>(rest[8]))
             << 24) |
            (static_cast<std::uint32_t>(static_cast<std::uint8_t>(rest[9]))
             << 16) |
            (static_cast<std::uint32_t>(static_cast<std::uint8_t>(rest[10]))
             << 8) |
            static_cast<std::uint32_t>(static_cast<std::uint8_t>(rest[11])));
        if (rest.size() < 12 + size) break;
        names[surrogate] = std::string(rest.substr(12, size));
        rest.remove_prefix(12 + size);
      }
    }
    for (const auto& [key, value] : *index) {
      if (key.size() != 16) continue;
      const std::uint64_t lsn = be64(key, 8);
      if (lsn <= after_lsn) continue;
      const auto name = names.find(be64(key, 0));
      if (name == names.end()) continue;
      out.lost_events.emplace_back(name->second, lsn);
    }
    out.index_read = true;
  } catch (const Error& e) {
    if (logger) {
      logger(LogLevel::kWarning,
             fmt::format("{}: the views cannot be read for the salvage "
                         "report: {}",
                         store.dir().string(), e.what()));
    }
  }
  return out;
}

// Per workflow: the LSNs of its lost events and where each was seen.
struct WorkflowLoss {
  std::set<std::uint64_t> lsns;
  bool from_log = false;
  bool from_views = false;
};

}  // namespace

nlohmann::json salvage_report_to_json(const SalvageReport& r) {
  nlohmann::json lost = nlohmann::json::array();
  for (const LostRange& l : r.lost) {
    lost.push_back({{"first_lsn", l.first_lsn},
                    {"last_lsn", l.last_lsn},
                    {"readable", l.readable},
                    {"commits", l.commits}});
  }
  nlohmann::json workflows = nlohmann::json::array();
  for (const LostWorkflow& w : r.workflows) {
    workflows.push_back({{"workflow_id", w.workflow_id},
                         {"events", w.events},
                         {"first_lsn", w.first_lsn},
                         {"last_lsn", w.last_lsn},
                         {"known_from", w.known_from}});
  }
  nlohmann::json evidence = nlohmann::json::object();
  for (const LsnEvidence& e : r.evidence) evidence[e.source] = e.lsn;
  nlohmann::json damages = nlohmann::json::array();
  for (const SalvageDamage& d : r.damages) {
    damages.push_back({{"file", d.file},
                       {"offset", d.offset},
                       {"bytes", d.bytes},
                       {"reason", d.reason}});
  }
  return {{"nothing_lost", r.nothing_lost()},
          {"store_id", r.store_id},
          {"source_store_id", r.source_store_id},
          {"last_lsn", r.last_lsn},
          {"head_hash", r.head_hash},
          {"commits", r.commits},
          {"events", r.events},
          {"commits_from_side_files", r.commits_from_side_files},
          {"side_files_used", r.side_files_used},
          {"side_files", r.side_files},
          {"stop_reason", r.stop_reason},
          {"highest_known_lsn", r.highest_known_lsn},
          {"evidence", evidence},
          {"lost", lost},
          {"lost_events", r.lost_events},
          {"workflows", workflows},
          {"workflows_complete", r.workflows_complete},
          {"lost_events_without_workflow", r.lost_events_without_workflow},
          {"discarded_commits", r.discarded_commits},
          {"segments", r.segments},
          {"segments_skipped", r.segments_skipped},
          {"foreign_segments", r.foreign_segments},
          {"source_bytes", r.source_bytes},
          {"bytes_lost", r.bytes_lost},
          {"damages", damages},
          {"segments_written", r.segments_written},
          {"bytes_written", r.bytes_written},
          {"seconds", r.seconds}};
}

std::optional<nlohmann::json> read_salvage_record(
    const std::filesystem::path& dir) {
  const std::shared_ptr<FileSystem> fs = posix_file_system();
  const std::filesystem::path path = dir / kSalvageFileName;
  if (!fs->exists(path)) return std::nullopt;
  const std::unique_ptr<ReadableFile> file = fs->open_readable(path);
  std::string bytes(static_cast<std::size_t>(file->size()), '\0');
  bytes.resize(file->read(0, bytes.size(), bytes.data()));
  nlohmann::json record =
      nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!record.is_object()) {
    throw CorruptionError(fmt::format(
        "{}: not a salvage report (not a JSON object)", path.string()));
  }
  return record;
}

SalvageReport salvage_store(const std::filesystem::path& dir,
                            const std::filesystem::path& out,
                            const Logger& logger) {
  const auto start = std::chrono::steady_clock::now();
  const std::shared_ptr<FileSystem> fs = posix_file_system();
  const StoreDir source = StoreDir::open_existing(fs, dir, /*lock=*/false);
  check_apart(dir, out, "salvage target");
  const ReadOnlyLock lock(dir);
  const std::optional<ViewsState> state = source.read_views_state();

  NewStoreTarget target(*fs, out, "salvage target");
  const StoreId& id = target.id();
  const log::LogSalvage log = log::salvage_log(
      fs, source.log_dir(), source.id(), target.log_dir(), id,
      [](const log::Commit& c) -> std::string {
        try {
          (void)decode_commit_body(c.first_lsn, c.timestamp_ms, c.event_count,
                                   c.body);
          return {};
        } catch (const CorruptionError& e) {
          return fmt::format("its body does not decode: {}", e.what());
        }
      });
  SalvageReport report;
  report.source_store_id = source.id().to_string();
  report.store_id = id.to_string();
  report.last_lsn = log.last_lsn;
  report.head_hash = log.commits == 0 ? "" : log::to_hex(log.last_hash);
  report.commits = log.commits;
  report.events = log.events;
  report.commits_from_side_files = log.commits_from_side_files;
  report.side_files_used = log.side_files_used;
  report.side_files = log.side_files;
  report.stop_reason = log.stop_reason;
  report.segments = log.segments;
  report.segments_skipped = log.segments_skipped;
  report.foreign_segments = log.foreign_segments;
  report.source_bytes = log.source_bytes;
  report.bytes_lost = log.bytes_lost;
  report.segments_written = log.segments_written;
  report.bytes_written = log.bytes_written;
  for (const log::Damage& d : log.damages) {
    report.damages.push_back(
        SalvageDamage{d.segment, d.offset, d.bytes, d.reason});
  }

  // The evidence of how far the history went.
  const SourceViews views =
      read_source_views(source, state, log.last_lsn, logger);
  const std::uint64_t commits_seen =
      std::max(log.highest_commit_lsn, log.last_lsn);
  const auto add_evidence = [&](std::string source_name, std::uint64_t lsn) {
    if (lsn == 0) return;
    report.evidence.push_back(LsnEvidence{std::move(source_name), lsn});
    report.highest_known_lsn = std::max(report.highest_known_lsn, lsn);
  };
  add_evidence("log commits", commits_seen);
  add_evidence("segment headers", log.highest_segment_lsn);
  if (state) add_evidence("VIEWS_STATE durable_lsn", state->durable_lsn);
  if (views.applied_lsn) add_evidence("views applied_lsn", *views.applied_lsn);
  if (views.durable_lsn) add_evidence("views durable_lsn", *views.durable_lsn);
  report.highest_known_lsn = std::max(report.highest_known_lsn, log.last_lsn);

  // The lost LSNs, in readable and unreadable pieces, and the workflows the
  // readable ones name.
  std::map<std::string, WorkflowLoss> losses;
  std::set<std::uint64_t> decoded_lsns;
  std::uint64_t cursor = log.last_lsn + 1;
  const auto add_range = [&](std::uint64_t first, std::uint64_t last,
                             bool readable, std::uint64_t commits) {
    if (!report.lost.empty() && report.lost.back().readable == readable &&
        report.lost.back().last_lsn + 1 == first) {
      report.lost.back().last_lsn = last;
      report.lost.back().commits += commits;
      return;
    }
    report.lost.push_back(LostRange{first, last, readable, commits});
  };
  for (const log::FoundCommit& c : log.not_copied) {
    if (c.last_lsn() <= log.last_lsn) {
      ++report.discarded_commits;
      continue;
    }
    if (c.first_lsn > cursor) add_range(cursor, c.first_lsn - 1, false, 0);
    if (c.last_lsn() >= cursor) {
      add_range(std::max(cursor, c.first_lsn), c.last_lsn(), true, 1);
      cursor = c.last_lsn() + 1;
    }
    try {
      const log::Commit commit =
          log::read_found_commit(*fs, source.log_dir(), c);
      const DecodedCommit decoded =
          decode_commit_body(commit.first_lsn, commit.timestamp_ms,
                             commit.event_count, commit.body);
      for (const Event& e : decoded.events) {
        if (!decoded_lsns.insert(e.lsn).second) continue;
        if (e.workflow_id.empty()) {
          ++report.lost_events_without_workflow;
          continue;
        }
        WorkflowLoss& loss = losses[e.workflow_id];
        loss.lsns.insert(e.lsn);
        loss.from_log = true;
      }
    } catch (const CorruptionError&) {
      // Whole but undecodable: its LSNs count as read, its workflows not.
    }
  }
  if (cursor <= report.highest_known_lsn) {
    add_range(cursor, report.highest_known_lsn, false, 0);
  }
  for (const auto& [workflow, lsn] : views.lost_events) {
    WorkflowLoss& loss = losses[workflow];
    loss.lsns.insert(lsn);
    loss.from_views = true;
  }
  for (const LostRange& r : report.lost) {
    report.lost_events += r.last_lsn - r.first_lsn + 1;
  }
  // Complete when every lost LSN was decoded from the log or lies within
  // what the views' index covers.
  const std::uint64_t indexed_to =
      views.index_read && views.applied_lsn ? *views.applied_lsn : 0;
  for (const LostRange& r : report.lost) {
    const std::uint64_t from = std::max(r.first_lsn, indexed_to + 1);
    if (from > r.last_lsn) continue;
    const auto read = static_cast<std::uint64_t>(std::distance(
        decoded_lsns.lower_bound(from), decoded_lsns.upper_bound(r.last_lsn)));
    if (read != r.last_lsn - from + 1) report.workflows_complete = false;
  }
  for (const auto& [workflow, loss] : losses) {
    report.workflows.push_back(LostWorkflow{
        workflow, loss.lsns.size(), *loss.lsns.begin(), *loss.lsns.rbegin(),
        loss.from_log && loss.from_views ? "log+views"
                                         : (loss.from_log ? "log" : "views")});
  }
  // SALVAGE before STORE (complete()): a salvage cut short before its STORE
  // is not a store.
  nlohmann::json recorded = salvage_report_to_json(report);
  recorded.erase("seconds");
  write_file_atomically(*fs, out / kSalvageFileName, out / kSalvageTempFileName,
                        recorded.dump(2) + "\n");
  target.complete(source.id(), log.last_lsn, log.last_hash, logger);
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return report;
}

}  // namespace wfstore
