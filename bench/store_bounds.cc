// The raw loops that bound each phase (README.md "Performance"): a raw
// write()+fdatasync file for sync-mode writes, raw LMDB write transactions of
// the phase's shape beside a raw log append for buffered ones, raw LMDB gets
// and decodes of the views' records for reads, and the raw batched put rate
// beside a rebuild.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "wfstore/maintenance.h"

#include "bench/bench.h"
#include "bench/lmdb_raw_bench.h"
#include "bench/store_bench.h"
#include "wfstore_internal/view_records.h"

namespace wfstore::bench {
namespace {

namespace records = wfstore::records;

// The raw LMDB transaction shape of each write phase's commits: the puts
// fold() makes (records, ids, indexes, the workflow event index, the applied
// LSN, queue counters).
RawTxnShape write_shape(const Phase& phase) {
  const auto bytes = static_cast<std::size_t>(phase.log_bytes_per_commit);
  RawTxnShape shape;
  if (phase.name == "store") {
    // The workflow record and 10 stage records; ids, stage order, indexes.
    shape.big_puts = 1 + kStages;
    shape.big_value_size = bytes / shape.big_puts;
    shape.small_puts = 3 * kStages + 6;
  } else if (phase.name == "stage_update") {
    // The stage record; its stage_order entry (the phase changes every
    // stage's outputs) and 2 small puts.
    shape.big_value_size = bytes;
    shape.small_puts = 3;
  } else if (phase.name == "txn") {
    // The stage record and the queued message; the stage's 2 small puts plus
    // the ready index, the next delivery id and the queue size.
    shape.gets = 2;
    shape.big_puts = 2;
    shape.big_value_size = bytes / 2;
    shape.small_puts = 5;
  } else if (phase.name == "queue_push") {
    // The queued message; ready index, next id, queue size, event index,
    // applied LSN.
    shape.big_value_size = bytes;
    shape.small_puts = 5;
  } else if (phase.name == "queue_poll_ack") {
    // A lease (the message record again, ready -> lease) or an ack (deletes,
    // the queue size); the applied LSN.
    shape.big_value_size = bytes;
    shape.small_puts = 3;
  } else {
    // dedup_mark: the processed record under the id's hash; its by-time
    // entry and the applied LSN (view schema 6 interns no message id).
    shape.big_value_size = bytes;
    shape.small_puts = 2;
  }
  return shape;
}

// The raw loop of a write phase runs the phase's commits (commits_per_op()
// per op); its rate is divided back into ops.
void measure_write_bound(Phase& phase, const std::filesystem::path& dir) {
  const auto record = static_cast<std::size_t>(phase.log_bytes_per_commit);
  const std::filesystem::path scratch = dir / ("bound-" + phase.name);
  std::filesystem::create_directories(scratch);
  const double per_op = phase.commits_per_op();
  if (phase.synced) {
    phase.gate = 0.8;
    phase.bound = raw_append_sync_rate(scratch / "raw.log", record,
                                       kBoundSeconds, phase.commits) /
                  per_op;
  } else {
    phase.gate = 0.5;
    RawAppendFile log(scratch / "raw.log");
    const std::string bytes(record, 'r');
    const RawTxnShape shape = write_shape(phase);
    std::uint64_t count = phase.commits;
    // A first short loop sizes the timed one to about kBoundSeconds.
    const RawBenchResult probe = raw_lmdb_txn_rate(
        scratch / "probe", std::min<std::uint64_t>(count, 200), shape,
        [&] { log.append(bytes, false); });
    count = std::clamp<std::uint64_t>(
        static_cast<std::uint64_t>(probe.ops_per_second * kBoundSeconds), 1,
        count);
    phase.bound = raw_lmdb_txn_rate(scratch / "lmdb", count, shape,
                                    [&] { log.append(bytes, false); })
                      .ops_per_second /
                  per_op;
  }
  std::filesystem::remove_all(scratch);
}

// Records of the workflows' bytes in the views' own layout, for read bounds.
std::vector<std::string> workflow_records(const Workload& w, bool summary) {
  std::vector<std::string> rows;
  const std::uint64_t sample = std::min<std::uint64_t>(w.n, 200);
  for (std::uint64_t k = 0; k < sample; ++k) {
    const Workflow& wf = w.workflows[k];
    if (summary) {
      Workflow head = wf;
      head.stages.clear();
      rows.push_back(records::encode_workflow_record(head, kStages));
    }
    for (std::size_t i = 0; i < wf.stages.size(); ++i) {
      rows.push_back(records::encode_stage_record(wf.stages[i], k + 1, i));
    }
  }
  return rows;
}

void measure_read_bound(Phase& phase, const Workload& w,
                        const std::filesystem::path& dir) {
  phase.gate = 0.3;
  const std::filesystem::path scratch = dir / ("bound-" + phase.name);
  std::uint64_t seen = 0;
  RawBenchResult result;
  const std::uint64_t count = phase.name == "dedup_check"
                                  ? phase.n
                                  : std::min<std::uint64_t>(phase.n, 2000);
  if (phase.name == "retrieve" || phase.name == "query") {
    const std::size_t per_op = 1 + kStages;
    result = raw_lmdb_get_rate(scratch, workflow_records(w, true), per_op,
                               count, [&](std::string_view v) {
                                 if (seen++ % per_op == 0) {
                                   records::decode_workflow_record(v);
                                 } else {
                                   records::decode_stage_record(v);
                                 }
                               });
  } else if (phase.name == "ancestors") {
    // What get_merged_ancestor_outputs reads: the workflow's stage_order
    // entries, which hold the graph and each stage's outputs (as after the
    // stage_update phase: the entry's bytes are what is read, not decoded).
    const std::size_t per_op = kStages;
    std::vector<std::string> rows;
    const std::uint64_t sample = std::min<std::uint64_t>(w.n, 200);
    for (std::uint64_t k = 0; k < sample; ++k) {
      const Workflow& wf = w.workflows[k];
      for (std::size_t i = 0; i < kStages; ++i) {
        const StageExecution& s = wf.stages[i];
        rows.push_back(records::encode_stage_order(k * kStages + i + 1, 0,
                                                   s.requisite_stage_ref_ids,
                                                   s.outputs.cbor(), s.ref_id));
      }
    }
    std::size_t keys = 0;
    result = raw_lmdb_get_rate(
        scratch, rows, per_op, count, [&](std::string_view v) {
          const records::StageOrderEntry entry = records::decode_stage_order(v);
          keys += entry.requisites.unpack().size() + entry.outputs.bytes.size();
        });
    expect(keys > 0, "ancestors bound: no outputs decoded");
  } else {
    // A check's read: one processed_messages value, the id's entry found in
    // it (records in the views' own layout).
    std::vector<std::string> ids;
    std::vector<std::string> rows;
    for (std::uint64_t j = 0; j < 1000; ++j) {
      records::ProcessedRecord r;
      r.processed_at = kBaseMs;
      r.lsn = j + 1;
      r.handler_type = "BenchHandler";
      r.execution_id = workflow_id(j % w.n);
      ids.push_back(fmt::format("dedup-msg-{}", j));
      std::string value;
      records::append_processed(value, ids.back(), r);
      rows.push_back(std::move(value));
    }
    result =
        raw_lmdb_get_rate(scratch, rows, 1, count, [&](std::string_view v) {
          expect(records::has_processed(v, ids[seen++ % ids.size()]),
                 "dedup_check bound: an id is missing from its record");
        });
  }
  phase.bound = result.ops_per_second;
  std::filesystem::remove_all(scratch);
}

std::uint64_t directory_bytes(const std::filesystem::path& dir) {
  std::uint64_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file()) bytes += entry.file_size();
  }
  return bytes;
}

}  // namespace

void measure_bounds(std::vector<Phase>& phases, const Workload& w,
                    const std::filesystem::path& dir) {
  for (Phase& phase : phases) {
    if (phase.commits > 0) {
      measure_write_bound(phase, dir);
    } else {
      measure_read_bound(phase, w, dir);
    }
  }
}

// Rebuilds the views of the store in `store_dir` and measures the raw batched
// LMDB put rate beside it.
RebuildRun run_rebuild(const std::filesystem::path& store_dir,
                       const std::filesystem::path& scratch) {
  RebuildRun run;
  const RebuildReport report = rebuild_store_views(store_dir);
  run.events = report.events;
  run.seconds = report.seconds;
  run.view_entries = lmdb_entry_count(store_dir / "views");
  run.value_size = std::clamp<std::uint64_t>(
      directory_bytes(store_dir / "log") /
          std::max<std::uint64_t>(run.view_entries, 1),
      16, 4096);
  run.raw_put_rate =
      raw_lmdb_batched_put_rate(
          scratch, std::max<std::uint64_t>(run.view_entries, 100000),
          static_cast<std::size_t>(run.value_size))
          .ops_per_second;
  std::filesystem::remove_all(scratch);
  return run;
}

}  // namespace wfstore::bench
