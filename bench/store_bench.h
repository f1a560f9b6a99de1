// The standard workload of `wfstore bench` (bench_store.cc), shared by its
// parts: the workload and its phases (store_workload.cc), the raw loops that
// bound them (store_bounds.cc), the wake-up latency and thread-count runs
// (store_runs.cc), and the report (store_report.cc). Internal to the bench
// library.

#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include "wfstore/database.h"
#include "wfstore/model.h"
#include "wfstore/queue.h"

namespace wfstore::bench {

using SteadyClock = std::chrono::steady_clock;

constexpr std::int64_t kBaseMs = 1700000000000;
constexpr int kStages = 10;
constexpr int kApplications = 10;
// D of bench/workload.md: message ids of the dedup phases.
constexpr std::uint64_t kDedupIds = 10000;
// Longest a raw bound loop runs; it stops earlier after the phase's op count.
constexpr double kBoundSeconds = 1.0;

// A phase's answer was wrong: the bench fails.
class CheckFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline void expect(bool ok, const std::string& what) {
  if (!ok) throw CheckFailed(what);
}

// A literal message builds no string unless the check fails (the overload a
// literal picks over the two above).
inline void expect(bool ok, const char* what) {
  if (!ok) throw CheckFailed(what);
}

// expect() whose message is formatted only when the check fails: a phase's
// per-operation check must not time the formatting of a message it never
// shows.
template <typename... Args>
void expect(bool ok, fmt::format_string<Args...> format, Args&&... args) {
  if (!ok) throw CheckFailed(fmt::format(format, std::forward<Args>(args)...));
}

// A scratch directory removed on scope exit. Not copyable: a copy's
// destructor would remove the directory under the original.
struct ScratchDir {
  // A new, empty directory `<name>-<pid>` in `dir` (the temporary directory
  // when empty): what a killed run of the same pid left there is removed
  // first. Throws std::filesystem::filesystem_error.
  static ScratchDir make(const std::string& dir, std::string_view name) {
    const std::filesystem::path parent =
        dir.empty() ? std::filesystem::temp_directory_path()
                    : std::filesystem::absolute(dir);
    std::filesystem::path path =
        parent / (std::string(name) + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
    return ScratchDir(std::move(path));
  }

  explicit ScratchDir(std::filesystem::path p) : path(std::move(p)) {}
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }

  std::filesystem::path path;
};

// Memory figures of a process from /proc/<pid>/status, in KiB; -1 for a
// figure the file lacks (or the whole file: the process is gone, or a
// zombie).
struct ProcMemory {
  long rss_kib = -1;   // VmRSS: anonymous and file pages (mapped files too)
  long anon_kib = -1;  // RssAnon: the process's own memory
  long hwm_kib = -1;   // VmHWM: the peak of VmRSS since exec
};

// `pid` 0: this process.
inline ProcMemory proc_memory(pid_t pid = 0) {
  std::ifstream status(pid == 0 ? std::string("/proc/self/status")
                                : "/proc/" + std::to_string(pid) + "/status");
  ProcMemory m;
  std::string line;
  while (std::getline(status, line)) {
    const auto kib = [&](std::string_view key, long& out) {
      if (line.rfind(key, 0) == 0) out = std::stol(line.substr(key.size()));
    };
    kib("VmRSS:", m.rss_kib);
    kib("RssAnon:", m.anon_kib);
    kib("VmHWM:", m.hwm_kib);
  }
  return m;
}

struct Phase {
  std::string name;
  std::uint64_t n = 0;
  double seconds = 0;
  // CPU time of the thread that ran the phase (the committing thread leads
  // every group): steadier than `seconds` on a loaded machine.
  double cpu_seconds = 0;
  // What the bench checked of the phase's answers (every phase checks).
  std::string check;
  double bound = 0;  // raw ops/s; 0 until measured
  double gate = 0;   // the least ratio README.md "Performance" accepts
  // Commits the phase made (0 for a read phase) and the log bytes each
  // appended on average, to shape its raw loop.
  std::uint64_t commits = 0;
  double log_bytes_per_commit = 0;
  // Whether each commit waited for its fdatasync (sync-mode writes; leases and
  // acks follow QueueOptions::lease_durability).
  bool synced = false;
  // Minor page faults of the thread that ran the phase (first touches of new
  // heap and of new LMDB map pages; not the map prefaulter's, on its own
  // thread): each costs about page_fault_us().
  std::uint64_t minor_faults = 0;

  double commits_per_op() const {
    return n > 0 ? static_cast<double>(commits) / static_cast<double>(n) : 0;
  }
  double ops_per_sec() const {
    return seconds > 0 ? static_cast<double>(n) / seconds : 0;
  }
  double ratio() const { return bound > 0 ? ops_per_sec() / bound : 0; }
  double faults_per_op() const {
    return n > 0 ? static_cast<double>(minor_faults) / static_cast<double>(n)
                 : 0;
  }
  double cpu_us_per_op() const {
    return n > 0 ? 1e6 * cpu_seconds / static_cast<double>(n) : 0;
  }
  bool pass() const { return ratio() >= gate; }
};

struct ThreadRun {
  int threads = 0;
  std::uint64_t commits = 0;
  std::uint64_t fdatasyncs = 0;
  double seconds = 0;
  double rate() const {
    return seconds > 0 ? static_cast<double>(commits) / seconds : 0;
  }
};

struct RebuildRun {
  std::uint64_t events = 0;
  std::uint64_t view_entries = 0;  // a lower bound of the view writes
  std::uint64_t value_size = 0;    // log bytes per view entry: the raw puts'
  double seconds = 0;
  double raw_put_rate = 0;
  double events_per_sec() const {
    return static_cast<double>(events) / seconds;
  }
  double writes_per_sec() const {
    return static_cast<double>(view_entries) / seconds;
  }
  double ratio() const { return writes_per_sec() / raw_put_rate; }
};

// Blocking poll: from a push's commit returning to the waiting poll_one
// returning, in microseconds.
struct WakeupLatency {
  std::size_t samples = 0;
  double median_us = 0;
  double p99_us = 0;
  double max_us = 0;
};

struct ModeRun {
  std::string durability;
  std::vector<Phase> phases;
  double page_fault_us = 0;  // page_fault_us(), right after the phases
  WakeupLatency wakeup;
  RebuildRun rebuild;
};

// The in-memory workload: the build of workload.md, updated by the phases.
struct Workload {
  std::uint64_t n = 0;
  std::uint64_t dedup = kDedupIds;  // message ids of the dedup phases
  std::vector<Workflow> workflows;
};

// The workload and its phases (store_workload.cc).

// CPU seconds this thread has used.
double thread_cpu_seconds();
// Minor page faults this thread has taken.
std::uint64_t thread_minor_faults();
// The machine's cost of one minor page fault in microseconds: the median of
// three runs touching 4,096 fresh anonymous pages (a bound of what a phase
// that first-touches memory pays; a virtual machine's can be tens of times a
// bare machine's).
double page_fault_us();
// Times `body` as phase `name` of `ops` operations on `db`; write phases
// record their commits and the log bytes each appended. Throws what body
// throws.
Phase timed(Database& db, const std::string& name, std::uint64_t ops,
            const std::function<void()>& body);

// The id of workflow `k` of the workload.
std::string workflow_id(std::uint64_t k);
// Workflow `k` of the workload: kStages stages of one task each.
Workflow build_workflow(std::uint64_t k);
// Runs the phases of the standard workload, then the queue's, on `db` and
// `queue`, checking every answer. Throws CheckFailed, what the store throws.
std::vector<Phase> run_phases(Database& db, Queue& queue, Workload& w);
// The StartStage message of `stage` of `wf`.
Message start_stage(const Workflow& wf, int stage);
// Checks that `delivery` is the StartStage of `stage` of `wf`. Throws
// CheckFailed.
void check_delivery(const std::optional<Delivery>& delivery, const Workflow& wf,
                    int stage);

// The raw loops that bound the phases (store_bounds.cc).

// Measures the raw bound and sets the gate of every phase, in scratch
// directories below `dir`.
void measure_bounds(std::vector<Phase>& phases, const Workload& w,
                    const std::filesystem::path& dir);
// Rebuilds the views of the store in `store_dir` and measures the raw batched
// LMDB put rate beside it, in `scratch`.
RebuildRun run_rebuild(const std::filesystem::path& store_dir,
                       const std::filesystem::path& scratch);

// The runs beside the phases (store_runs.cc).

// `samples` blocking-poll wake-ups on the empty `queue`.
WakeupLatency measure_wakeup_latency(Queue& queue, const Workload& w,
                                     std::size_t samples);
// Sync-mode commit throughput of 1 to 16 threads, `seconds` each, in a new
// store in `dir`.
std::vector<ThreadRun> run_thread_counts(const std::filesystem::path& dir,
                                         double seconds);

// stabilize's own store on the same workload (stabilize_run.cc).

// One phase of stabilize_workload.py's output.
struct StabilizePhase {
  std::string name;
  std::uint64_t n = 0;
  double seconds = 0;
  double ops_per_sec = 0;
  double cpu_us_per_op = 0;  // the Python process's CPU time per op
};

struct StabilizeRun {
  std::string about;  // versions and journal mode, as the script prints them
  std::vector<StabilizePhase> phases;
  // The phase named `name`, or null. Valid while this run lives.
  const StabilizePhase* find(const std::string& name) const;
};

// Runs stabilize's SqliteWorkflowStore in WAL mode on the standard workload
// of `n` workflows and `dedup` message ids (bench/stabilize_workload.py, with the interpreter and
// stabilize source tree this build was configured with) in a scratch
// directory below `dir`. Throws InvalidArgumentError when the build has no
// stabilize source tree, CheckFailed when stabilize's answers were wrong,
// IOError when the script cannot run or prints something else.
StabilizeRun run_stabilize(std::uint64_t n, std::uint64_t dedup,
                           const std::filesystem::path& dir);

// Goal 1 of a buffered phase beside stabilize's WAL figure of the same run:
// at least the lower of 10x stabilize and 0.7 of the phase's own bound; for
// ancestors, whose bound is whatever records the implementation reads, 10x
// stabilize itself.
struct GoalOne {
  double x_stabilize = 0;     // ours / stabilize, ops/s
  double stabilize_goal = 0;  // 10x stabilize, ops/s
  double bound_goal = 0;      // 0.7 of the bound, ops/s
  bool bound_counts = true;   // false for ancestors
  double goal = 0;            // the goal that applies, ops/s
  bool meets_stabilize = false;
  bool meets_bound = false;
  bool met = false;
};
GoalOne goal_one(const Phase& ours, const StabilizePhase& stabilize);

// The report (store_report.cc), on stdout; `stabilize` is null without
// --vs-stabilize.
void print_text(const std::vector<ModeRun>& modes,
                const std::vector<ThreadRun>& threads, std::uint64_t n,
                const StabilizeRun* stabilize);
void print_json(const std::vector<ModeRun>& modes,
                const std::vector<ThreadRun>& threads, std::uint64_t n,
                const StabilizeRun* stabilize);

}  // namespace wfstore::bench
