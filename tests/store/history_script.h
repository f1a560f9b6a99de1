// A small scripted store history for the fork and bundle tests: single- and
// multi-event commits (transactions), queue traffic, claims, pauses, stage
// additions and removals, a cancel and a delete, with every workflow's
// retrieve() recorded right after each commit.

#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/file_system.h"
#include "wfstore/history.h"
#include "wfstore/queue.h"
#include "wfstore/transaction.h"

#include "tests/testutil/file_bytes.h"
#include "tests/testutil/sample_messages.h"
#include "tests/testutil/sample_workflows.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/sha256.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore::testutil {

// Every workflow's state (nullopt: absent) by id.
using StoreState = std::map<std::string, std::optional<Workflow>>;

inline StoreState capture_state(WorkflowStore& store,
                                const std::vector<std::string>& ids) {
  StoreState state;
  for (const std::string& id : ids) {
    try {
      state[id] = store.retrieve(id);
    } catch (const WorkflowNotFoundError&) {
      state[id] = std::nullopt;
    }
  }
  return state;
}

struct ScriptedHistory {
  std::vector<std::string> ids;  // every workflow id the script uses
  // The state right after each commit, by the commit's last LSN.
  std::map<std::uint64_t, StoreState> states;
  std::uint64_t last_lsn = 0;
};

// Runs the script on `db` (a writer open) with ids prefixed by `prefix`.
inline ScriptedHistory run_history_script(Database& db,
                                          const std::string& prefix = "") {
  AuditScope audit({"alice@example.com", "release-7", "", "script"});
  WorkflowStore& store = db.workflow_store();
  ScriptedHistory history;
  const std::string a = prefix + "wf-a";
  const std::string b = prefix + "wf-b";
  const std::string c = prefix + "wf-c";
  history.ids = {a, b, c};
  const auto record = [&] {
    history.last_lsn = db.stats().applied_lsn;
    history.states[history.last_lsn] = capture_state(store, history.ids);
  };
  Queue queue(db);
  store.store(diamond_workflow(a));
  record();
  {
    Transaction txn = store.transaction(&queue);
    StageExecution setup = store.retrieve_stage(a + ".setup").stage();
    setup.status = WorkflowStatus::kRunning;
    setup.context.mutable_value()["step"] = 1;
    txn.store_stage(setup);
    Workflow wf = store.retrieve(a);
    wf.status = WorkflowStatus::kRunning;
    wf.start_time = 1000;
    txn.update_workflow_status(wf);
    txn.push_message(start_stage(a, a + ".setup"));
    txn.mark_message_processed(prefix + "m-1", "Handler", a);
    txn.commit();
  }
  record();
  queue.push(start_workflow(b));
  record();
  store.store(full_workflow(b));
  record();
  if (auto delivery = queue.poll_one()) {
    record();
    queue.ack(delivery->id);
    record();
  }
  {
    StageExecution stage = store.retrieve_stage(b + ".prepare").stage();
    stage.status = WorkflowStatus::kSucceeded;
    stage.outputs.mutable_value()["done"] = true;
    store.store_stage(stage);
  }
  record();
  store.pause(a, "ops");
  record();
  store.resume(a);
  record();
  {
    Transaction txn = store.transaction();
    txn.acquire_claim(a, "deploy-lock", a + ".deploy");
    txn.acquire_claim(b, "prepare-lock", b + ".prepare");
    txn.commit();
  }
  record();
  {
    StageExecution extra = bare_stage(a, a + ".extra", "extra", "wait");
    extra.requisite_stage_ref_ids = {"deploy"};
    store.add_stage(extra);
  }
  record();
  store.remove_stage(b, b + ".prepare_hook_b");
  record();
  store.cancel(b, "ops", "no longer needed");
  record();
  store.store(diamond_workflow(c));
  record();
  store.delete_workflow(a);
  record();
  {
    Transaction txn = store.transaction();
    for (const char* ref : {"setup", "build_linux"}) {
      StageExecution stage = store.retrieve_stage(c + "." + ref).stage();
      stage.status = WorkflowStatus::kSucceeded;
      txn.store_stage(stage);
    }
    txn.mark_message_processed(prefix + "m-2", "Handler", c);
    txn.commit();
  }
  record();
  {
    Workflow wf = store.retrieve(c);
    wf.status = WorkflowStatus::kSucceeded;
    wf.end_time = 9000;
    store.update_status(wf);
  }
  record();
  return history;
}

// The state as of `lsn`: the one recorded after the commit that holds it.
inline const StoreState& state_as_of(const ScriptedHistory& history,
                                     std::uint64_t lsn) {
  return history.states.lower_bound(lsn)->second;
}

// Every event of the log of the store in `dir` after `after_lsn`, in LSN
// order.
inline std::vector<Event> log_events(const std::filesystem::path& dir,
                                     std::uint64_t after_lsn = 0) {
  std::vector<Event> out;
  for_each_event(dir, after_lsn, [&](const Event& event) {
    out.push_back(event);
    return true;
  });
  return out;
}

// Replaces the file at `path` with `bytes`.
inline void write_bytes(const std::filesystem::path& path,
                        const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Every commit of the (intact) log of the store in `dir`, as the reader
// returns them.
inline std::vector<log::Commit> read_log_commits(
    const std::filesystem::path& dir) {
  const std::shared_ptr<FileSystem> fs = posix_file_system();
  const StoreDir store = StoreDir::open_existing(fs, dir, false);
  log::Reader reader(fs, store.log_dir(), store.id(), 1, nullptr);
  std::vector<log::Commit> out;
  log::Commit commit;
  while (reader.next(&commit)) out.push_back(commit);
  return out;
}

// The SHA-256 of every file under `dir` by relative path, except LMDB's
// reader table (lock.mdb), which every read transaction writes, and without
// `with_views` also LMDB's data file (compare the tables' dumps instead).
inline std::map<std::string, Sha256Digest> hash_files(
    const std::filesystem::path& dir, bool with_views = true) {
  std::map<std::string, Sha256Digest> out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    const std::filesystem::path name = entry.path().filename();
    if (!entry.is_regular_file() || name == "lock.mdb" ||
        (!with_views && name == "data.mdb")) {
      continue;
    }
    out[std::filesystem::relative(entry.path(), dir).string()] =
        sha256(read_file_bytes(entry.path()));
  }
  return out;
}

}  // namespace wfstore::testutil
