// Helpers for the store tests: opening a Database with captured warnings,
// ordered dumps of every view table, the log's size, a fake clock.

#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "wfstore/database.h"

#include "store/database_impl.h"
#include "wfstore_internal/view_store.h"

namespace wfstore::testutil {

// An exception whose what() is null, as a caller's handler may throw: fmt and
// std::string throw on a null string.
struct NullMessageError : std::exception {
  const char* what() const noexcept override { return nullptr; }
};

// Every warning a Database logged.
class Warnings {
 public:
  Logger logger() {
    return [this](LogLevel level, std::string_view message) {
      std::scoped_lock lock(mu_);
      messages_.push_back(fmt_level(level) + std::string(message));
    };
  }
  std::vector<std::string> messages() const {
    std::scoped_lock lock(mu_);
    return messages_;
  }
  bool contains(std::string_view text) const {
    std::scoped_lock lock(mu_);
    for (const std::string& m : messages_) {
      if (m.find(text) != std::string::npos) return true;
    }
    return false;
  }

 private:
  static std::string fmt_level(LogLevel level) {
    return std::string(log_level_name(level)) + ": ";
  }
  mutable std::mutex mu_;
  std::vector<std::string> messages_;
};

// A clock the test sets.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::int64_t now) : now_(now) {}
  std::int64_t now_ms() override { return now_.load(); }
  void set(std::int64_t now) { now_ = now; }
  void advance(std::int64_t ms) { now_ += ms; }

 private:
  std::atomic<std::int64_t> now_;
};

using TableDump = std::vector<std::vector<std::pair<std::string, std::string>>>;

// Ordered dumps of every table (meta and the log positions, the bookkeeping
// of one copy, included when `with_meta`).
inline TableDump dump_all(Database& db, bool with_meta = true) {
  TableDump out;
  LmdbViews& views = database_impl(db).views();
  for (Table table : kAllTables) {
    if (!is_checksummed(table) && !with_meta) continue;
    out.push_back(views.dump(table));
  }
  return out;
}

// The options of a small test store (a 64 MiB map) that drops its warnings.
inline DatabaseOptions quiet_options(
    Durability durability = Durability::kSync) {
  DatabaseOptions o;
  o.durability = durability;
  o.map_size = std::uint64_t{1} << 26;
  o.logger = [](LogLevel, std::string_view) {};
  return o;
}

// Total size of the log's segment files.
inline std::uint64_t log_bytes(const std::filesystem::path& dir) {
  std::uint64_t total = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "log")) {
    total += entry.file_size();
  }
  return total;
}

}  // namespace wfstore::testutil
