// The runs beside the workload's phases: the blocking poll's wake-up latency
// and the commit throughput by thread count.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench/store_bench.h"

namespace wfstore::bench {
namespace {

// Commits of `threads` threads doing mark_message_processed for `seconds`.
ThreadRun run_threads(Database& db, int threads, double seconds) {
  WorkflowStore& store = db.workflow_store();
  const DatabaseStats before = db.stats();
  const auto start = SteadyClock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> workers;
  workers.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&store, deadline, threads, t] {
      for (std::uint64_t i = 0; SteadyClock::now() < deadline; ++i) {
        store.mark_message_processed(
            fmt::format("threads-{}-{}-{}", threads, t, i), "BenchHandler");
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  ThreadRun run;
  run.threads = threads;
  run.seconds =
      std::chrono::duration<double>(SteadyClock::now() - start).count();
  const DatabaseStats after = db.stats();
  run.commits = after.commits - before.commits;
  run.fdatasyncs = after.fdatasyncs - before.fdatasyncs;
  return run;
}

}  // namespace

// A consumer thread waits in poll_one(timeout) on the empty `queue`; once it
// is waiting, this thread pushes one message. Each sample is the time from
// push() returning (its commit acknowledged) to poll_one() returning, taken on
// one steady clock; a consumer that wakes before push() returns counts 0.
WakeupLatency measure_wakeup_latency(Queue& queue, const Workload& w,
                                     std::size_t samples) {
  using std::chrono::microseconds;
  std::vector<SteadyClock::time_point> pushed(samples);
  std::vector<SteadyClock::time_point> received(samples);
  std::atomic<std::size_t> waiting{0};  // samples the consumer waits for
  std::atomic<std::size_t> done{0};     // samples received and acked
  std::exception_ptr failure;
  std::thread consumer([&] {
    try {
      for (std::size_t s = 0; s < samples; ++s) {
        waiting.store(s + 1);
        const std::optional<Delivery> delivery =
            queue.poll_one(std::chrono::seconds(30));
        received[s] = SteadyClock::now();
        check_delivery(delivery, w.workflows[s % w.n], 3);
        queue.ack(delivery->id);
        done.store(s + 1);
      }
    } catch (...) {
      failure = std::current_exception();
      done.store(samples);
    }
  });
  for (std::size_t s = 0; s < samples && done.load() < samples; ++s) {
    while (waiting.load() < s + 1 && done.load() < samples)
      std::this_thread::sleep_for(microseconds(20));
    // Time for the consumer to find the queue empty and block.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    queue.push(start_stage(w.workflows[s % w.n], 3));
    pushed[s] = SteadyClock::now();
    while (done.load() < s + 1) std::this_thread::sleep_for(microseconds(20));
  }
  consumer.join();
  if (failure) std::rethrow_exception(failure);
  std::vector<double> us;
  us.reserve(samples);
  for (std::size_t s = 0; s < samples; ++s) {
    us.push_back(std::max(
        0.0, std::chrono::duration<double, std::micro>(received[s] - pushed[s])
                 .count()));
  }
  std::sort(us.begin(), us.end());
  WakeupLatency latency;
  latency.samples = samples;
  latency.median_us = us[samples / 2];
  latency.p99_us = us[std::min(samples - 1, samples * 99 / 100)];
  latency.max_us = us.back();
  return latency;
}

std::vector<ThreadRun> run_thread_counts(const std::filesystem::path& dir,
                                         double seconds) {
  DatabaseOptions options;
  options.durability = Durability::kSync;
  auto db = Database::open(dir, options);
  std::vector<ThreadRun> runs;
  for (int threads : {1, 2, 4, 8, 16}) {
    runs.push_back(run_threads(*db, threads, seconds));
  }
  db->close();
  return runs;
}

}  // namespace wfstore::bench
