// `wfstore bench --log`: the log's append+fdatasync rate against a raw
// write()+fdatasync loop of the same record size in the same directory, plus
// group-sync and no-sync rates.

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include "wfstore/errors.h"
#include "wfstore/file_system.h"

#include "bench/bench.h"
#include "wfstore_internal/log_format.h"
#include "wfstore_internal/log_writer.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

[[noreturn]] void throw_io(const std::filesystem::path& path,
                           const char* what) {
  throw IOError(fmt::format("{} {}: {}", what, path.string(),
                            std::generic_category().message(errno)));
}

}  // namespace

double measure(double seconds, std::uint64_t per_op, std::uint64_t max_units,
               const std::function<void()>& op) {
  const auto start = SteadyClock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  std::uint64_t units = 0;
  while (SteadyClock::now() < deadline && units < max_units) {
    op();
    units += per_op;
  }
  const double elapsed =
      std::chrono::duration<double>(SteadyClock::now() - start).count();
  return static_cast<double>(units) / elapsed;
}

RawAppendFile::RawAppendFile(const std::filesystem::path& path)
    : path_(path),
      fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                 0644)) {
  if (fd_ < 0) throw_io(path_, "open");
}

RawAppendFile::~RawAppendFile() { ::close(fd_); }

void RawAppendFile::append(std::string_view bytes, bool sync) {
  if (::write(fd_, bytes.data(), bytes.size()) !=
      static_cast<ssize_t>(bytes.size())) {
    throw_io(path_, "write");
  }
  if (sync && ::fdatasync(fd_) != 0) throw_io(path_, "fdatasync");
}

double raw_append_sync_rate(const std::filesystem::path& path,
                            std::size_t record, double seconds,
                            std::uint64_t max_ops) {
  RawAppendFile file(path);
  const std::string buf(record, 'r');
  return measure(seconds, 1, max_ops, [&] { file.append(buf, true); });
}

namespace {

// Commits per second with a sync after every `per_sync` commits (0: never).
double log_rate(const std::filesystem::path& log_dir, const std::string& body,
                std::uint64_t per_sync, double seconds) {
  auto w = log::Writer::open(posix_file_system(), log_dir, StoreId::random());
  const std::uint64_t max_units = per_sync == 0 ? 200000 : UINT64_MAX;
  return measure(seconds, per_sync == 0 ? 1 : per_sync, max_units, [&] {
    for (std::uint64_t i = 0; i < (per_sync == 0 ? 1 : per_sync); ++i) {
      w->append(w->last_lsn() + 1, 1, 0, body);
    }
    if (per_sync != 0) w->sync();
  });
}

}  // namespace

int run_log_bench(const LogBenchOptions& o) {
  const std::filesystem::path dir = std::filesystem::absolute(o.dir) /
                                    fmt::format("wfstore-bench-{}", ::getpid());
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::filesystem::path dir;
    ~Cleanup() {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  } cleanup{dir};
  const std::string body(o.body_bytes, 'b');
  const std::size_t record = static_cast<std::size_t>(
      log::framed_size(log::kCommitFixedSize + body.size(), 0));
  std::cout << fmt::format(
      "wfstore bench --log: {}-byte records ({}-byte body), {} s per run, in "
      "{}\n",
      record, o.body_bytes, o.seconds, dir.string());
  const double raw = raw_append_sync_rate(dir / "raw.dat", record, o.seconds);
  std::cout << fmt::format("  raw write+fdatasync       {:>10.0f} records/s\n",
                           raw);
  const double one = log_rate(dir / "log1", body, 1, o.seconds);
  std::cout << fmt::format(
      "  log, 1 commit per sync    {:>10.0f} commits/s  ratio to raw {:.2f} "
      "(target >= 0.80)\n",
      one, one / raw);
  for (std::uint64_t k : {std::uint64_t{8}, std::uint64_t{64}}) {
    const double r =
        log_rate(dir / fmt::format("log{}", k), body, k, o.seconds);
    std::cout << fmt::format(
        "  log, {:<2} commits per sync {:>10.0f} commits/s\n", k, r);
  }
  const double nosync = log_rate(dir / "lognosync", body, 0, o.seconds);
  std::cout << fmt::format("  log, no sync              {:>10.0f} commits/s\n",
                           nosync);
  return 0;
}

}  // namespace wfstore::bench
