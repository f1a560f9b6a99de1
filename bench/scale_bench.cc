// `wfstore bench --scale`: whether costs stay flat as the store grows. The
// standard workload's phases at a small and a large N, a poll among many
// expired leases against a poll among few, and the process's resident memory
// while one store grows to millions of events (README.md "Flat cost at
// scale").

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/queue.h"

#include "bench/bench.h"
#include "bench/store_bench.h"

namespace wfstore::bench {
namespace {

// Per-operation cost of large N over small N that still counts as flat.
constexpr double kMaxRatio = 1.5;
// Polls (each with its ack) of the expired-lease figure.
constexpr std::uint64_t kPolls = 2000;
// RSS samples over the growth of the memory run.
constexpr int kRssSamples = 10;

// A clock the bench moves: leases taken at one time expire when it jumps.
class JumpClock final : public Clock {
 public:
  std::int64_t now_ms() override { return now_.load(); }
  void jump(std::int64_t ms) { now_.fetch_add(ms); }

 private:
  std::atomic<std::int64_t> now_{1'700'000'000'000};
};

// Whether `ratio` (large over small; 0 when a figure is missing) is flat.
bool flat_ratio(double ratio) { return ratio > 0 && ratio <= kMaxRatio; }

double us_per_op(double seconds, std::uint64_t ops) {
  return ops > 0 ? seconds * 1e6 / static_cast<double>(ops) : 0;
}

struct PhasePair {
  std::string name;
  std::uint64_t small_ops = 0;
  std::uint64_t large_ops = 0;
  double small_us = 0;  // wall microseconds per operation
  double large_us = 0;
  double small_cpu_us = 0;
  double large_cpu_us = 0;
  // Minor page faults of the phase's thread per operation (Phase::
  // faults_per_op): where a large store's extra cost is faulting.
  double small_faults = 0;
  double large_faults = 0;
  // Judged on CPU time per operation (the committing thread leads every
  // group): wall time on a shared machine swings with other load.
  double ratio() const {
    return small_cpu_us > 0 ? large_cpu_us / small_cpu_us : 0;
  }
  double wall_ratio() const { return small_us > 0 ? large_us / small_us : 0; }
  // A ratio of 0 means a figure was not measured: not flat.
  bool flat() const { return flat_ratio(ratio()); }
};

// The standard workload's phases at `n` workflows in a new buffered store.
std::vector<Phase> workload_phases(const std::filesystem::path& dir,
                                   std::uint64_t n, std::uint64_t dedup) {
  Workload w;
  w.n = n;
  w.dedup = dedup;
  w.workflows.reserve(n);
  for (std::uint64_t k = 0; k < n; ++k)
    w.workflows.push_back(build_workflow(k));
  DatabaseOptions options;
  options.durability = Durability::kBuffered;
  auto db = Database::open(dir, options);
  std::vector<Phase> phases;
  {
    Queue queue(*db);
    phases = run_phases(*db, queue, w);
  }
  db->close();
  return phases;
}

struct PollFigure {
  std::uint64_t leases = 0;
  double us_per_poll = 0;      // poll_one + ack, wall
  double cpu_us_per_poll = 0;  // the polling thread's CPU
};

// Leases `leases` messages, lets every lease expire, then times kPolls
// redeliveries (poll_one + ack), each picked among the expired leases.
PollFigure poll_among_expired(const std::filesystem::path& dir,
                              std::uint64_t leases) {
  auto clock = std::make_shared<JumpClock>();
  DatabaseOptions options;
  options.durability = Durability::kBuffered;
  options.clock = clock;
  options.queue.lease_duration = std::chrono::minutes(1);
  auto db = Database::open(dir, options);
  PollFigure figure;
  figure.leases = leases;
  {
    Queue queue(*db);
    const Workflow wf = build_workflow(0);
    for (std::uint64_t i = 0; i < leases; ++i) {
      queue.push(start_stage(wf, static_cast<int>(i % kStages)));
    }
    for (std::uint64_t i = 0; i < leases; ++i) {
      expect(queue.poll_one().has_value(),
             "scale: lease {} of {}: nothing to poll", i, leases);
    }
    expect(!queue.poll_one().has_value(),
           "scale: a delivery left after every message was leased");
    clock->jump(2 * 60 * 1000);
    const std::uint64_t polls = std::min(kPolls, leases);
    const Phase phase = timed(*db, "poll_expired", polls, [&] {
      for (std::uint64_t i = 0; i < polls; ++i) {
        const std::optional<Delivery> d = queue.poll_one();
        if (!d.has_value() || d->attempts != 2) {
          expect(false, "scale: poll {} among {} expired leases: {}", i, leases,
                 d ? fmt::format("attempt {}", d->attempts)
                   : std::string("nothing"));
        }
        queue.ack(d->id);
      }
    });
    figure.us_per_poll = us_per_op(phase.seconds, polls);
    figure.cpu_us_per_poll = us_per_op(phase.cpu_seconds, polls);
  }
  db->close();
  return figure;
}

struct RssSample {
  std::uint64_t events = 0;
  double rss_mb = 0;   // VmRSS: anonymous and file pages (LMDB's map too)
  double anon_mb = 0;  // RssAnon: the process's own memory
};

// VmRSS and RssAnon of this process.
RssSample read_rss() {
  const ProcMemory m = proc_memory();
  RssSample s;
  // A figure the kernel does not report counts as 0.
  s.rss_mb = static_cast<double>(std::max(m.rss_kib, 0L)) / 1024.0;
  s.anon_mb = static_cast<double>(std::max(m.anon_kib, 0L)) / 1024.0;
  return s;
}

// Grows a new store to `events` events (grow_history_store), sampling RSS
// kRssSamples times on the way.
std::vector<RssSample> rss_over_growth(const std::filesystem::path& dir,
                                       std::uint64_t events) {
  DatabaseOptions options;
  options.durability = Durability::kBuffered;
  auto db = Database::open(dir, options);
  std::vector<RssSample> samples;
  for (int i = 1; i <= kRssSamples; ++i) {
    grow_history_store(*db,
                       events * static_cast<std::uint64_t>(i) / kRssSamples);
    RssSample s = read_rss();
    s.events = db->stats().applied_lsn;
    samples.push_back(s);
  }
  db->close();
  return samples;
}

struct ScaleRun {
  std::vector<PhasePair> phases;
  PollFigure few;
  PollFigure many;
  std::vector<RssSample> rss;

  double poll_ratio() const {
    return few.cpu_us_per_poll > 0 ? many.cpu_us_per_poll / few.cpu_us_per_poll
                                   : 0;
  }
  // Anonymous RSS at the end over the first sample's (a tenth of the way).
  double rss_ratio() const {
    return rss.empty() || rss.front().anon_mb <= 0
               ? 0
               : rss.back().anon_mb / rss.front().anon_mb;
  }
  // Anonymous RSS growth per million events: the least-squares slope over
  // the samples (a steady leak shows here before it moves the ratio).
  double rss_slope() const {
    if (rss.size() < 2) return 0;
    double mx = 0;
    double my = 0;
    for (const RssSample& s : rss) {
      mx += static_cast<double>(s.events);
      my += s.anon_mb;
    }
    mx /= static_cast<double>(rss.size());
    my /= static_cast<double>(rss.size());
    double sxy = 0;
    double sxx = 0;
    for (const RssSample& s : rss) {
      const double dx = static_cast<double>(s.events) - mx;
      sxy += dx * (s.anon_mb - my);
      sxx += dx * dx;
    }
    return sxx > 0 ? sxy / sxx * 1e6 : 0;
  }
  std::vector<std::string> missed() const {
    std::vector<std::string> out;
    for (const PhasePair& p : phases) {
      if (!p.flat()) out.push_back(p.name);
    }
    if (!flat_ratio(poll_ratio())) out.push_back("poll_expired");
    if (!flat_ratio(rss_ratio())) out.push_back("rss");
    return out;
  }
  std::size_t figures() const { return phases.size() + 2; }
};

const char* verdict(bool ok) { return ok ? "pass" : "FAIL"; }

void print_text(const ScaleRun& r, const ScaleBenchOptions& o) {
  std::cout << fmt::format(
      "# scale durability=buffered small_n={} large_n={} max_ratio={}\n",
      o.small_n, o.large_n, kMaxRatio);
  for (const PhasePair& p : r.phases) {
    std::cout << fmt::format(
        "scale phase={} small_ops={} large_ops={} small_us_per_op={:.2f} "
        "large_us_per_op={:.2f} small_cpu_us_per_op={:.2f} "
        "large_cpu_us_per_op={:.2f} wall_ratio={:.2f} ratio={:.2f} result={}\n",
        p.name, p.small_ops, p.large_ops, p.small_us, p.large_us,
        p.small_cpu_us, p.large_cpu_us, p.wall_ratio(), p.ratio(),
        verdict(p.flat()));
    std::cout << fmt::format(
        "# scale_faults phase={} small_minor_faults_per_op={:.3f} "
        "large_minor_faults_per_op={:.3f}\n",
        p.name, p.small_faults, p.large_faults);
  }
  std::cout << fmt::format(
      "scale poll_expired small_leases={} large_leases={} "
      "small_us_per_poll={:.2f} large_us_per_poll={:.2f} "
      "small_cpu_us_per_poll={:.2f} large_cpu_us_per_poll={:.2f} ratio={:.2f} "
      "result={}\n",
      r.few.leases, r.many.leases, r.few.us_per_poll, r.many.us_per_poll,
      r.few.cpu_us_per_poll, r.many.cpu_us_per_poll, r.poll_ratio(),
      verdict(flat_ratio(r.poll_ratio())));
  for (const RssSample& s : r.rss) {
    std::cout << fmt::format(
        "scale rss events={} rss_mb={:.1f} anon_mb={:.1f}\n", s.events,
        s.rss_mb, s.anon_mb);
  }
  if (!r.rss.empty()) {
    double peak = 0;
    for (const RssSample& s : r.rss) peak = std::max(peak, s.anon_mb);
    std::cout << fmt::format(
        "scale rss_summary events={} first_anon_mb={:.1f} peak_anon_mb={:.1f} "
        "last_anon_mb={:.1f} anon_mb_per_million_events={:.2f} ratio={:.2f} "
        "result={}\n",
        r.rss.back().events, r.rss.front().anon_mb, peak, r.rss.back().anon_mb,
        r.rss_slope(), r.rss_ratio(), verdict(flat_ratio(r.rss_ratio())));
  }
  const std::vector<std::string> missed = r.missed();
  std::cout << fmt::format(
      "# scale met={}/{} missed={}\n", r.figures() - missed.size(), r.figures(),
      missed.empty() ? std::string("none")
                     : fmt::format("{}", fmt::join(missed, ",")));
}

void print_json(const ScaleRun& r, const ScaleBenchOptions& o) {
  nlohmann::json phases = nlohmann::json::array();
  for (const PhasePair& p : r.phases) {
    phases.push_back({{"phase", p.name},
                      {"small_ops", p.small_ops},
                      {"large_ops", p.large_ops},
                      {"small_us_per_op", p.small_us},
                      {"large_us_per_op", p.large_us},
                      {"small_cpu_us_per_op", p.small_cpu_us},
                      {"large_cpu_us_per_op", p.large_cpu_us},
                      {"small_minor_faults_per_op", p.small_faults},
                      {"large_minor_faults_per_op", p.large_faults},
                      {"wall_ratio", p.wall_ratio()},
                      {"ratio", p.ratio()},
                      {"pass", p.flat()}});
  }
  nlohmann::json rss = nlohmann::json::array();
  for (const RssSample& s : r.rss) {
    rss.push_back(
        {{"events", s.events}, {"rss_mb", s.rss_mb}, {"anon_mb", s.anon_mb}});
  }
  const nlohmann::json doc = {
      {"scale",
       {{"durability", "buffered"},
        {"small_n", o.small_n},
        {"large_n", o.large_n},
        {"max_ratio", kMaxRatio},
        {"phases", phases},
        {"poll_expired",
         {{"small_leases", r.few.leases},
          {"large_leases", r.many.leases},
          {"small_us_per_poll", r.few.us_per_poll},
          {"large_us_per_poll", r.many.us_per_poll},
          {"small_cpu_us_per_poll", r.few.cpu_us_per_poll},
          {"large_cpu_us_per_poll", r.many.cpu_us_per_poll},
          {"ratio", r.poll_ratio()},
          {"pass", flat_ratio(r.poll_ratio())}}},
        {"rss", rss},
        {"rss_ratio", r.rss_ratio()},
        {"figures", r.figures()},
        {"met", r.figures() - r.missed().size()},
        {"rss_anon_mb_per_million_events", r.rss_slope()},
        {"missed", r.missed()}}}};
  std::cout << doc.dump(2) << "\n";
}

}  // namespace

int run_scale_bench(const ScaleBenchOptions& o) {
  if (o.large_n <= o.small_n) {
    throw InvalidArgumentError(
        fmt::format("bench --scale: --scale-n {} must exceed --n {}", o.large_n,
                    o.small_n));
  }
  if (o.leases <= kPolls) {
    throw InvalidArgumentError(fmt::format(
        "bench --scale: --scale-leases {} must exceed the {} of the small poll",
        o.leases, kPolls));
  }
  const ScratchDir scratch = ScratchDir::make(o.dir, "wfstore-scale");
  ScaleRun run;
  try {
    // Memory first, before the large workload's objects live in this process.
    run.rss = rss_over_growth(scratch.path / "rss", o.rss_events);
    std::filesystem::remove_all(scratch.path / "rss");
    run.few = poll_among_expired(scratch.path / "poll-few", kPolls);
    run.many = poll_among_expired(scratch.path / "poll-many", o.leases);
    // The small run once unmeasured first, so that neither run carries the
    // process's warm-up (first page faults, allocator growth).
    workload_phases(scratch.path / "warm-up", o.small_n, o.dedup);
    std::filesystem::remove_all(scratch.path / "warm-up");
    const std::vector<Phase> small =
        workload_phases(scratch.path / "small", o.small_n, o.dedup);
    std::filesystem::remove_all(scratch.path / "small");
    const std::vector<Phase> large =
        workload_phases(scratch.path / "large", o.large_n, o.dedup);
    for (const Phase& s : small) {
      const auto l =
          std::find_if(large.begin(), large.end(),
                       [&](const Phase& p) { return p.name == s.name; });
      expect(l != large.end(), "scale: phase {} missing from the large run",
             s.name);
      run.phases.push_back({s.name, s.n, l->n, us_per_op(s.seconds, s.n),
                            us_per_op(l->seconds, l->n),
                            us_per_op(s.cpu_seconds, s.n),
                            us_per_op(l->cpu_seconds, l->n), s.faults_per_op(),
                            l->faults_per_op()});
    }
  } catch (const CheckFailed& e) {
    std::cerr << "wfstore: bench: wrong answer: " << e.what() << "\n";
    return 1;
  }
  if (o.json) {
    print_json(run, o);
  } else {
    print_text(run, o);
  }
  return 0;
}

}  // namespace wfstore::bench
