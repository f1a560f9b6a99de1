// `wfstore bench --history`: the history API against the raw reads that bound
// it, measured in the same run: one workflow's history among a large log and
// among a log a tenth of its size (latency, which must not grow with the log)
// beside an LMDB get and a raw read of one commit; the workflow as of an LSN
// (`show --at`) on a workflow of many events beside that workflow's event
// query; type and time-range query throughput beside the raw sequential read
// of the log; fork beside a raw copy of the same bytes; export beside the
// workflow's event query; the time index (lsn_at_time) beside an LMDB get.
// Subscriptions: commit-to-handler latency (from the commit call's start to
// the handler's call, on CLOCK_MONOTONIC) of a sync and an async EventBus
// subscriber and of a bus on a read-only open in another process, beside
// the commit latency; follow_events' and a durable subscription's catch-up
// beside the raw sequential read of the log; commit rates with a sync or an
// async subscriber beside the rate with none.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/history.h"
#include "wfstore/subscriptions.h"
#include "wfstore/transaction.h"

#include "bench/bench.h"
#include "bench/lmdb_raw_bench.h"
#include "bench/store_bench.h"

#ifndef WFSTORE_VERSION
#define WFSTORE_VERSION "unknown"
#endif

namespace wfstore::bench {
namespace {

// A clock that moves one millisecond per reading, so that commit times are
// distinct and the time index has something to find.
class StepClock final : public Clock {
 public:
  std::int64_t now_ms() override { return kBaseMs + next_++; }

 private:
  std::atomic<std::int64_t> next_{0};
};

// Workflows stored together, then updated together: one workflow's events
// are spread over the log between other workflows' events.
constexpr std::uint64_t kBatch = 100;
constexpr std::uint64_t kEventsPerWorkflow = 1 + kStages;
// Longest a latency or throughput loop runs.
constexpr double kPartSeconds = 2.0;
// Events a throughput query returns.
constexpr std::size_t kQueryLimit = 10000;

}  // namespace

HistoryLatency latency_of(std::vector<double> us) {
  expect(!us.empty(), "no latency samples");
  std::sort(us.begin(), us.end());
  HistoryLatency l;
  l.samples = us.size();
  l.median_us = us[us.size() / 2];
  l.p99_us = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  return l;
}

namespace {

// Runs op(i) for i = 0, 1, ... until `max_samples` ran or `seconds` passed
// (at least once), timing each.
HistoryLatency sample(std::size_t max_samples, double seconds,
                      const std::function<void(std::size_t)>& op) {
  std::vector<double> us;
  const auto deadline =
      SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                               std::chrono::duration<double>(seconds));
  while (us.size() < max_samples &&
         (us.empty() || SteadyClock::now() < deadline)) {
    const auto start = SteadyClock::now();
    op(us.size());
    us.push_back(
        std::chrono::duration<double, std::micro>(SteadyClock::now() - start)
            .count());
  }
  return latency_of(std::move(us));
}

double seconds_of(const std::function<void()>& op) {
  const auto start = SteadyClock::now();
  op();
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// The segment files of the store in `dir`, in name (LSN) order.
std::vector<std::filesystem::path> segments(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "log")) {
    if (entry.path().extension() == ".log") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::uint64_t total_bytes(const std::vector<std::filesystem::path>& files) {
  std::uint64_t total = 0;
  for (const auto& f : files) total += std::filesystem::file_size(f);
  return total;
}

class Fd {
 public:
  explicit Fd(const std::filesystem::path& path, int flags, int mode = 0)
      : path_(path), fd_(::open(path.c_str(), flags | O_CLOEXEC, mode)) {
    if (fd_ < 0) fail("open");
  }
  ~Fd() { ::close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  [[noreturn]] void fail(const char* what) const {
    throw IOError(fmt::format("{} {}: {}", what, path_.string(),
                              std::generic_category().message(errno)));
  }

 private:
  std::filesystem::path path_;
  int fd_;
};

// Reads `files` whole with read(2) in 1 MiB chunks; returns bytes per second.
double raw_sequential_read_rate(
    const std::vector<std::filesystem::path>& files) {
  std::vector<char> buf(std::size_t{1} << 20);
  std::uint64_t bytes = 0;
  const double seconds = seconds_of([&] {
    for (const auto& path : files) {
      const Fd fd(path, O_RDONLY);
      for (;;) {
        const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0) fd.fail("read");
        if (n == 0) break;
        bytes += static_cast<std::uint64_t>(n);
      }
    }
  });
  return static_cast<double>(bytes) / seconds;
}

// Copies `files` into `out` with read(2) and write(2) and fdatasyncs each
// copy, as a fork writes its log; returns bytes per second.
double raw_copy_rate(const std::vector<std::filesystem::path>& files,
                     const std::filesystem::path& out) {
  std::filesystem::create_directories(out);
  std::vector<char> buf(std::size_t{1} << 20);
  std::uint64_t bytes = 0;
  const double seconds = seconds_of([&] {
    for (const auto& path : files) {
      const Fd in(path, O_RDONLY);
      const Fd to(out / path.filename(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      for (;;) {
        const ssize_t n = ::read(in.get(), buf.data(), buf.size());
        if (n < 0) in.fail("read");
        if (n == 0) break;
        if (::write(to.get(), buf.data(), static_cast<std::size_t>(n)) != n)
          to.fail("write");
        bytes += static_cast<std::uint64_t>(n);
      }
      if (::fdatasync(to.get()) != 0) to.fail("fdatasync");
    }
  });
  return static_cast<double>(bytes) / seconds;
}

// The latency of a pread of `bytes` at random offsets of `files`: a raw read
// of one commit.
HistoryLatency raw_commit_read(const std::vector<std::filesystem::path>& files,
                               std::size_t bytes, std::size_t samples,
                               std::mt19937_64& rng) {
  std::vector<std::unique_ptr<Fd>> fds;
  std::vector<std::uint64_t> sizes;
  for (const auto& f : files) {
    fds.push_back(std::make_unique<Fd>(f, O_RDONLY));
    sizes.push_back(std::filesystem::file_size(f));
  }
  std::vector<char> buf(std::max<std::size_t>(bytes, 1));
  return sample(samples, kPartSeconds, [&](std::size_t) {
    const std::size_t i = rng() % fds.size();
    const std::uint64_t span = sizes[i] > bytes ? sizes[i] - bytes : 1;
    const auto offset = static_cast<off_t>(rng() % span);
    if (::pread(fds[i]->get(), buf.data(), buf.size(), offset) < 0)
      fds[i]->fail("pread");
  });
}

// The mean latency of a get of a random record of `count` records of
// `value_size` bytes, each in its own read transaction (the raw LMDB loop).
double lmdb_get_us(const std::filesystem::path& dir, std::size_t value_size) {
  const std::vector<std::string> records(10000, std::string(value_size, 'v'));
  const RawBenchResult r =
      raw_lmdb_get_rate(dir, records, 1, 100000, [](std::string_view) {});
  return 1e6 / r.ops_per_second;
}

using Params = std::vector<std::pair<std::string, std::uint64_t>>;

// A latency figure beside the raw `bound` (microseconds).
HistoryFigure latency_figure(std::string name, Params params,
                             HistoryLatency measured, std::string bound,
                             double bound_us) {
  HistoryFigure f;
  f.name = std::move(name);
  f.params = std::move(params);
  f.measured = measured;
  f.bound = std::move(bound);
  f.bound_value = bound_us;
  return f;
}

// A rate figure: `rate` in `unit` beside `bound_value` of the raw `bound`.
HistoryFigure rate_figure(std::string name, Params params, std::string unit,
                          double rate, std::string bound, double bound_value) {
  HistoryFigure f = latency_figure(std::move(name), std::move(params), {},
                                   std::move(bound), bound_value);
  f.latency = false;
  f.unit = std::move(unit);
  f.rate = rate;
  return f;
}

// Builds `target` events in the store: each batch of workflows is stored, then
// updated stage by stage in one transaction per round.
void grow(Database& db, std::uint64_t target, std::uint64_t& workflows) {
  WorkflowStore& store = db.workflow_store();
  while (db.stats().applied_lsn + kBatch * kEventsPerWorkflow <= target) {
    std::vector<Workflow> batch;
    for (std::uint64_t k = 0; k < kBatch; ++k)
      batch.push_back(build_workflow(workflows + k));
    for (const Workflow& wf : batch) store.store(wf);
    for (int stage = 0; stage < kStages; ++stage) {
      Transaction txn = store.transaction();
      for (Workflow& wf : batch) {
        StageExecution& s = wf.stages[static_cast<std::size_t>(stage)];
        s.status = WorkflowStatus::kSucceeded;
        txn.store_stage(s);
      }
      txn.commit();
    }
    workflows += kBatch;
  }
}

// The history of one random workflow per sample; its bound is set later.
HistoryFigure workflow_query(const History& history, std::uint64_t workflows,
                             std::size_t samples, std::uint64_t log_events,
                             std::mt19937_64& rng) {
  const HistoryLatency l = sample(samples, kPartSeconds, [&](std::size_t) {
    EventQuery q;
    q.workflow_id = workflow_id(rng() % workflows);
    const std::vector<Event> events = history.events(q);
    expect(events.size() == kEventsPerWorkflow,
           "workflow query {}: {} events, expected {}", *q.workflow_id,
           events.size(), kEventsPerWorkflow);
  });
  return latency_figure("workflow_query",
                        {{"log_events", log_events},
                         {"workflows", workflows},
                         {"events_per_workflow", kEventsPerWorkflow}},
                        l, "", 0);
}

// Events per second of `query` (each returning up to kQueryLimit events).
HistoryFigure query_rate(const History& history, const std::string& name,
                         const std::function<EventQuery(std::size_t)>& query,
                         double bound) {
  std::uint64_t events = 0;
  double seconds = 0;
  const HistoryLatency l = sample(50, kPartSeconds, [&](std::size_t i) {
    seconds += seconds_of([&] { events += history.events(query(i)).size(); });
  });
  expect(events > 0, name + ": no events");
  return rate_figure(name, {{"queries", l.samples}, {"events", events}},
                     "events_per_sec", static_cast<double>(events) / seconds,
                     "log_sequential_read_events_per_sec", bound);
}

// The workflow "big" of kStages stages stored in `db`, then updated until it
// has `events` events.
Workflow build_big(Database& db, std::uint64_t events) {
  Workflow wf = build_workflow(0);
  WorkflowStore& store = db.workflow_store();
  store.store(wf);
  std::uint64_t written = 1;
  while (written < events) {
    Transaction txn = store.transaction();
    for (StageExecution& s : wf.stages) {
      if (written == events) break;
      s.context = Json(nlohmann::json{{"round", written}});
      txn.store_stage(s);
      ++written;
    }
    txn.commit();
  }
  return wf;
}

// Large values without decimals, small ones with two.
std::string number(double v) {
  return v >= 100 ? fmt::format("{:.0f}", v) : fmt::format("{:.2f}", v);
}

void print_text(const HistoryBenchOptions& o,
                const std::vector<HistoryFigure>& fs) {
  std::cout << fmt::format(
      "# wfstore {} bench --history: history_events={} workflow_events={} "
      "samples={}\n",
      WFSTORE_VERSION, o.events, o.workflow_events, o.samples);
  for (const HistoryFigure& f : fs) {
    std::string line = "history=" + f.name;
    for (const auto& [key, value] : f.params)
      line += fmt::format(" {}={}", key, value);
    if (f.latency) {
      line +=
          fmt::format(" samples={} median_us={} p99_us={}", f.measured.samples,
                      number(f.measured.median_us), number(f.measured.p99_us));
    } else {
      line += fmt::format(" {}={}", f.unit, number(f.rate));
    }
    line += fmt::format(" {}={} ratio={:.2f}", f.bound, number(f.bound_value),
                        f.ratio());
    std::cout << line << "\n";
  }
}

void print_json(const HistoryBenchOptions& o,
                const std::vector<HistoryFigure>& fs) {
  nlohmann::json doc;
  doc["version"] = WFSTORE_VERSION;
  doc["history_events"] = o.events;
  doc["workflow_events"] = o.workflow_events;
  doc["samples"] = o.samples;
  doc["figures"] = nlohmann::json::array();
  for (const HistoryFigure& f : fs) {
    nlohmann::json j{{"name", f.name}};
    for (const auto& [key, value] : f.params) j[key] = value;
    if (f.latency) {
      j["samples"] = f.measured.samples;
      j["median_us"] = f.measured.median_us;
      j["p99_us"] = f.measured.p99_us;
    } else {
      j[f.unit] = f.rate;
    }
    j["bound"] = f.bound;
    j["bound_value"] = f.bound_value;
    j["ratio"] = f.ratio();
    doc["figures"].push_back(j);
  }
  std::cout << doc.dump(2) << "\n";
}

// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the host.
std::int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// One small commit (one event): pauses or resumes the workflow of
// build_workflow(0).
void toggle(WorkflowStore& store, std::uint64_t i) {
  if (i % 2 == 0) {
    store.pause(workflow_id(0), "bench");
  } else {
    store.resume(workflow_id(0));
  }
}

// The reader process of the cross-process figure: a bus on a read-only open
// whose sync subscriber writes "<lsn> <CLOCK_MONOTONIC ns>\n" to `fd` for
// each of the `count` events after the views' LSN at its start; "ready"
// first. Returns its exit code.
int run_reader(const std::filesystem::path& dir, std::uint64_t count, int fd) {
  const auto say = [fd](const std::string& line) {
    const std::string text = line + "\n";
    return ::write(fd, text.data(), text.size()) ==
           static_cast<ssize_t>(text.size());
  };
  DatabaseOptions options;
  options.logger = [](LogLevel, std::string_view) {};
  auto reader = Database::open_read_only(dir, options);
  std::atomic<std::uint64_t> seen{0};
  std::atomic<bool> failed{false};
  {
    EventBus bus(*reader);
    bus.subscribe("cross-process", [&](const Event& event) {
      const std::int64_t now = monotonic_ns();
      if (!say(fmt::format("{} {}", event.lsn, now))) failed = true;
      ++seen;
    });
    if (!say("ready")) return 3;
    while (seen.load() < count && !failed.load())
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  reader->close();
  return failed.load() ? 3 : 0;
}

// Reads one '\n'-terminated line from `fd`; throws IOError at end of file.
std::string read_line(int fd) {
  std::string line;
  char c = 0;
  for (;;) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw IOError("bench: the reader process ended early");
    if (c == '\n') return line;
    line.push_back(c);
  }
}

// The subscription figures on a store of their own in `dir`, then a durable
// subscription's catch-up over `history_db` (done by the caller). REQUIRES:
// this process has no store open (it forks).
void subscriber_figures(const HistoryBenchOptions& o,
                        const std::filesystem::path& dir,
                        std::vector<HistoryFigure>& figures) {
  DatabaseOptions options;
  options.durability = Durability::kBuffered;
  options.logger = [](LogLevel, std::string_view) {};
  {
    auto db = Database::open(dir, options);
    db->workflow_store().store(build_workflow(0));
    db->close();
  }
  const std::uint64_t samples = std::max<std::size_t>(o.samples, 1);
  constexpr std::chrono::milliseconds kReaderPoll{2};  // EventBusOptions'

  // Cross-process: the child's bus follows this process's commits.
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw IOError("bench: pipe2 failed");
  const pid_t pid = ::fork();
  if (pid < 0) throw IOError("bench: fork failed");
  if (pid == 0) {
    ::close(fds[0]);
    int code = 2;
    try {
      code = run_reader(dir, samples, fds[1]);
    } catch (const std::exception& e) {
      std::cerr << "wfstore: bench reader: " << e.what() << "\n";
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  struct Reader {
    int fd;
    pid_t pid;
    ~Reader() {
      ::close(fd);
      if (pid > 0) ::waitpid(pid, nullptr, 0);
    }
  } reader{fds[0], pid};
  expect(read_line(reader.fd) == "ready", "bench reader: no ready line");
  auto db = Database::open(dir, options);
  WorkflowStore& store = db->workflow_store();
  std::vector<double> commit_us;
  std::vector<double> cross_us;
  std::uint64_t lsn = db->stats().applied_lsn;
  std::mt19937_64 rng(7);
  for (std::uint64_t i = 0; i < samples; ++i) {
    // At a random phase of the reader's poll: right after its last delivery
    // the next commit would always wait a whole interval.
    std::this_thread::sleep_for(std::chrono::microseconds{
        rng() % static_cast<std::uint64_t>(
                    std::chrono::microseconds{kReaderPoll}.count())});
    const std::int64_t start = monotonic_ns();
    toggle(store, i);
    commit_us.push_back(static_cast<double>(monotonic_ns() - start) / 1e3);
    ++lsn;
    const std::string line = read_line(reader.fd);
    const std::size_t space = line.find(' ');
    expect(
        space != std::string::npos && std::stoull(line.substr(0, space)) == lsn,
        "bench reader: '{}' for lsn {}", line, lsn);
    cross_us.push_back(
        static_cast<double>(std::stoll(line.substr(space + 1)) - start) / 1e3);
  }
  int status = 0;
  ::waitpid(reader.pid, &status, 0);
  reader.pid = -1;
  expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
         "bench reader process failed");
  const HistoryLatency commit = latency_of(commit_us);

  // In process: the handler's time less the commit call's start.
  const auto in_process = [&](DeliveryMode mode) {
    EventBus bus(*db);
    std::atomic<std::int64_t> handled_at{0};
    std::atomic<std::uint64_t> handled_lsn{0};
    bus.subscribe(
        "latency",
        [&](const Event& event) {
          handled_at = monotonic_ns();
          handled_lsn = event.lsn;
        },
        {}, mode);
    std::vector<double> us;
    for (std::uint64_t i = 0; i < samples; ++i) {
      const std::int64_t start = monotonic_ns();
      toggle(store, i);
      ++lsn;
      while (handled_lsn.load() != lsn) {
      }
      us.push_back(static_cast<double>(handled_at.load() - start) / 1e3);
    }
    return latency_of(std::move(us));
  };
  const Params latency_params;
  figures.push_back(latency_figure("subscriber_latency_sync", latency_params,
                                   in_process(DeliveryMode::kSync),
                                   "commit_latency_us", commit.median_us));
  figures.push_back(latency_figure("subscriber_latency_async", latency_params,
                                   in_process(DeliveryMode::kAsync),
                                   "commit_latency_us", commit.median_us));
  figures.push_back(latency_figure(
      "subscriber_latency_cross_process",
      {{"poll_interval_ms", static_cast<std::uint64_t>(kReaderPoll.count())}},
      latency_of(cross_us), "commit_latency_us", commit.median_us));

  // Commit rates: rounds of no bus, a sync subscriber and an async one, so
  // that drift in the machine spreads over all three.
  constexpr int kRounds = 3;
  // Short rounds for a tiny run (the tests').
  const double round_seconds = o.samples >= 100 ? kPartSeconds / 4 : 0.05;
  double seconds[3] = {0, 0, 0};
  std::uint64_t commits[3] = {0, 0, 0};
  std::uint64_t i = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (int kind = 0; kind < 3; ++kind) {
      std::unique_ptr<EventBus> bus;
      std::atomic<std::uint64_t> handled{0};
      if (kind > 0) {
        bus = std::make_unique<EventBus>(*db);
        bus->subscribe(
            "cost", [&](const Event&) { ++handled; }, {},
            kind == 1 ? DeliveryMode::kSync : DeliveryMode::kAsync);
      }
      std::uint64_t n = 0;
      const auto start = SteadyClock::now();
      const auto deadline =
          start + std::chrono::duration_cast<SteadyClock::duration>(
                      std::chrono::duration<double>(round_seconds));
      while (n < 64 || SteadyClock::now() < deadline) {
        for (int k = 0; k < 64; ++k) toggle(store, i++);
        n += 64;
      }
      seconds[kind] +=
          std::chrono::duration<double>(SteadyClock::now() - start).count();
      commits[kind] += n;
      if (bus) {
        expect(bus->wait_idle(std::chrono::minutes{1}),
               "async subscriber did not drain");
        expect(handled.load() == n, "a subscriber missed commits");
      }
    }
  }
  const double none_rate = static_cast<double>(commits[0]) / seconds[0];
  figures.push_back(rate_figure(
      "commit_rate_sync_subscriber", {{"commits", commits[1]}},
      "commits_per_sec", static_cast<double>(commits[1]) / seconds[1],
      "commit_rate_no_subscriber_commits_per_sec", none_rate));
  figures.push_back(rate_figure(
      "commit_rate_async_subscriber", {{"commits", commits[2]}},
      "commits_per_sec", static_cast<double>(commits[2]) / seconds[2],
      "commit_rate_no_subscriber_commits_per_sec", none_rate));
  db->close();
}

// follow_events from the beginning of `db`'s log to its end (no checkpoint):
// events visited per second.
HistoryFigure follow_catch_up(Database& db, double read_events_per_sec) {
  const std::uint64_t end = db.stats().applied_lsn;
  std::uint64_t visited = 0;
  const double seconds = seconds_of([&] {
    follow_events(
        db, 0,
        [&](const Event& event) {
          ++visited;
          return event.lsn < end;
        },
        nullptr);
  });
  expect(visited == end, "follow_events: missed events");
  return rate_figure("follow_events_catch_up", {{"events", visited}},
                     "events_per_sec", static_cast<double>(visited) / seconds,
                     "log_sequential_read_events_per_sec", read_events_per_sec);
}

// A durable subscription from the beginning of `db`'s log to its end, in
// batches of `batch`: events handled per second.
HistoryFigure durable_catch_up(Database& db, std::size_t batch,
                               double read_events_per_sec) {
  DurableSubscriptions::Options options;
  options.batch_size = batch;
  DurableSubscriptions subs(db, options);
  const std::string name = fmt::format("bench-{}", batch);
  subs.create(name, StartFrom::beginning());
  std::uint64_t handled = 0;
  std::uint64_t last = 0;
  const double seconds = seconds_of([&] {
    subs.catch_up(name, [&](const Event& event) {
      expect(event.lsn == last + 1, "durable subscription: out of order");
      last = event.lsn;
      ++handled;
    });
  });
  expect(handled == db.stats().applied_lsn,
         "durable subscription: missed events");
  subs.remove(name);
  return rate_figure("durable_catch_up",
                     {{"events", handled}, {"batch_size", batch}},
                     "events_per_sec", static_cast<double>(handled) / seconds,
                     "log_sequential_read_events_per_sec", read_events_per_sec);
}

}  // namespace

void grow_history_store(Database& db, std::uint64_t events) {
  std::uint64_t workflows = db.stats().applied_lsn / kEventsPerWorkflow;
  grow(db, events, workflows);
}

void commit_one_event(Database& db, std::uint64_t i) {
  constexpr std::uint64_t kFirstExtra = std::uint64_t{1} << 40;
  db.workflow_store().store(build_workflow(kFirstExtra + i));
}

std::vector<HistoryFigure> run_history_figures(
    const HistoryBenchOptions& o, const std::filesystem::path& dir) {
  std::vector<HistoryFigure> figures;
  std::mt19937_64 rng(11);
  const double get_us = lmdb_get_us(dir / "bound-get", 400);

  // One workflow's history among a tenth of the events, then among them all.
  DatabaseOptions options;
  options.durability = Durability::kBuffered;
  options.clock = std::make_shared<StepClock>();
  auto db = Database::open(dir / "history", options);
  const History history(*db);
  std::uint64_t workflows = 0;
  grow(*db, std::max<std::uint64_t>(o.events / 10, kBatch * kEventsPerWorkflow),
       workflows);
  std::vector<HistoryFigure> per_workflow;
  per_workflow.push_back(workflow_query(history, workflows, o.samples,
                                        db->stats().applied_lsn, rng));
  grow(*db, o.events, workflows);
  const std::uint64_t events = db->stats().applied_lsn;
  per_workflow.push_back(
      workflow_query(history, workflows, o.samples, events, rng));
  const std::vector<std::filesystem::path> log = segments(dir / "history");
  const std::uint64_t log_bytes = total_bytes(log);
  const double event_bytes =
      static_cast<double>(log_bytes) / static_cast<double>(events);
  // A raw read of one commit of the average size (a workflow's events lie in
  // as many commits), then the bound of a workflow's history: one index get
  // and one commit read per event.
  const std::uint64_t commits = workflows / kBatch * (kBatch + kStages);
  const auto commit_bytes = static_cast<std::size_t>(
      static_cast<double>(log_bytes) / static_cast<double>(commits));
  const HistoryLatency commit_read =
      raw_commit_read(log, commit_bytes, o.samples, rng);
  figures.push_back(latency_figure("raw_commit_read", {{"bytes", commit_bytes}},
                                   commit_read, "lmdb_get_us", get_us));
  for (HistoryFigure& f : per_workflow) {
    f.bound = "lmdb_get_plus_commit_reads_us";
    f.bound_value = get_us + static_cast<double>(kEventsPerWorkflow) *
                                 commit_read.median_us;
    figures.push_back(f);
  }
  {  // How the latency grew with the log: 1.0 when it does not.
    const std::uint64_t from = per_workflow[0].params[0].second;
    figures.push_back(rate_figure(
        "workflow_query_growth",
        {{"from_log_events", from}, {"to_log_events", events}}, "median_ratio",
        per_workflow[1].measured.median_us / per_workflow[0].measured.median_us,
        "log_events_ratio",
        static_cast<double>(events) / static_cast<double>(from)));
  }

  // Query throughput beside the raw sequential read of the log.
  const double read_bytes_per_sec = raw_sequential_read_rate(log);
  const double read_events_per_sec = read_bytes_per_sec / event_bytes;
  {
    figures.push_back(query_rate(
        history, "type_query",
        [&](std::size_t) {
          EventQuery q;
          q.types = {EventType::kStageUpdated};
          q.from_lsn = rng() % (events / 2);
          q.limit = kQueryLimit;
          return q;
        },
        read_events_per_sec));
  }
  const std::int64_t first = history.event_at(1)->timestamp_ms;
  const std::int64_t last = history.event_at(events)->timestamp_ms;
  // A commit time drawn from the first `share` of the log's time range.
  const auto random_time = [&](std::int64_t share) {
    const auto span = static_cast<std::uint64_t>((last - first) / share + 1);
    return first + static_cast<std::int64_t>(rng() % span);
  };
  {
    figures.push_back(query_rate(
        history, "time_range_query",
        [&](std::size_t) {
          EventQuery q;
          q.from_time_ms = random_time(2);
          q.to_time_ms = last;
          q.limit = kQueryLimit;
          return q;
        },
        read_events_per_sec));
  }

  // The time index beside an LMDB get.
  {
    const HistoryLatency l = sample(o.samples, kPartSeconds, [&](std::size_t) {
      expect(history.lsn_at_time(random_time(1)) > 0, "lsn_at_time: no commit");
    });
    figures.push_back(latency_figure("lsn_at_time", {{"log_events", events}}, l,
                                     "lmdb_get_us", get_us));
  }

  // Fork of the whole log beside a raw copy of the same bytes.
  {
    const ForkReport r = history.fork(events, dir / "fork");
    figures.push_back(rate_figure(
        "fork", {{"events", r.events}, {"log_bytes", r.log_bytes}},
        "mb_per_sec", static_cast<double>(r.log_bytes) / 1e6 / r.seconds,
        "raw_copy_mb_per_sec", raw_copy_rate(log, dir / "raw-copy") / 1e6));
    figures.push_back(
        rate_figure("fork_events", {{"events", r.events}}, "events_per_sec",
                    static_cast<double>(r.events) / r.seconds,
                    "log_sequential_read_events_per_sec", read_events_per_sec));
  }
  std::vector<HistoryFigure> catch_up;
  catch_up.push_back(follow_catch_up(*db, read_events_per_sec));
  for (const std::size_t batch : {std::size_t{100}, std::size_t{1000}})
    catch_up.push_back(durable_catch_up(*db, batch, read_events_per_sec));
  db->close();

  // One workflow of many events: as of an LSN, its query and its export.
  auto big_db = Database::open(dir / "big", options);
  const History big(*big_db);
  const Workflow wf = build_big(*big_db, o.workflow_events);
  const std::uint64_t big_last = big_db->stats().applied_lsn;
  // The workflow's events per second through its event query.
  double query_rate = 0;
  {
    EventQuery q;
    q.workflow_id = wf.id;
    q.limit = o.workflow_events;
    const HistoryLatency l = sample(o.samples, kPartSeconds, [&](std::size_t) {
      expect(big.events(q).size() == o.workflow_events,
             "big workflow query: wrong count");
    });
    query_rate = static_cast<double>(o.workflow_events) * 1e6 / l.median_us;
    figures.push_back(rate_figure(
        "big_workflow_query", {{"workflow_events", o.workflow_events}},
        "events_per_sec", query_rate, "log_sequential_read_events_per_sec",
        read_events_per_sec));
  }
  {
    const HistoryLatency l = sample(o.samples, kPartSeconds, [&](std::size_t) {
      expect(big.workflow_as_of(wf.id, 1 + rng() % big_last).has_value(),
             "show --at: no workflow");
    });
    // Bounded by reading the workflow's events (its whole query).
    figures.push_back(latency_figure(
        "show_at", {{"workflow_events", o.workflow_events}}, l,
        "big_workflow_query_us",
        query_rate > 0
            ? static_cast<double>(o.workflow_events) * 1e6 / query_rate
            : 0));
  }
  {
    BundleInfo info;
    const double seconds = seconds_of(
        [&] { info = big.export_workflow(wf.id, dir / "export.bundle"); });
    figures.push_back(rate_figure(
        "export", {{"events", info.events}, {"bytes", info.bytes}},
        "events_per_sec", static_cast<double>(info.events) / seconds,
        "big_workflow_query_events_per_sec", query_rate));
  }
  big_db->close();

  // The subscription figures (no store is open here: they fork).
  subscriber_figures(o, dir / "subscribers", figures);
  for (HistoryFigure& f : catch_up) figures.push_back(std::move(f));
  return figures;
}

int run_history_bench(const HistoryBenchOptions& o) {
  const ScratchDir scratch = ScratchDir::make(o.dir, "wfstore-bench-history");
  std::vector<HistoryFigure> figures;
  try {
    figures = run_history_figures(o, scratch.path);
  } catch (const CheckFailed& e) {
    std::cerr << "wfstore: bench: wrong answer: " << e.what() << "\n";
    return 1;
  }
  if (o.json) {
    print_json(o, figures);
  } else {
    print_text(o, figures);
  }
  return 0;
}

}  // namespace wfstore::bench
