// `wfstore demo`: the main job, a realistic demonstration of what wfstore does.
//
// It opens a store, stores three deployment workflows (parallel test
// branches joining into a canary deploy with synthetic before/after stages),
// runs two the way an engine does (compare-and-set per stage, ancestor outputs
// as inputs, dedup marks): one succeeds, the other's canary fails and ends it
// TERMINAL; it pauses, resumes and cancels the third, shows a stale
// copy and bad input refused (an empty id, an audit field that is not UTF-8, an
// integer cast into a message enum), tears the log's tail as a crash in the
// middle of a write would and reopens the store (the torn bytes are cut and
// kept in a side file), queries it, prints the decoded history from the log,
// and verifies the hash chain and that the views equal a rebuild. Then it
// travels back in time on the failed workflow: its history, its state just
// before the failure and the diff to the end; it forks the store just before
// the failure and re-runs the engine, fixed, on the fork, where the workflow
// goes on from that point and succeeds, and shows that the original did not
// change. Last, a fleet of hundreds of deployment workflows runs through the
// same engine on many worker threads (tools/demo_fleet.h), and every one's
// final state is checked against its plan.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/event.h"
#include "wfstore/file_system.h"
#include "wfstore/history.h"
#include "wfstore/history_projections.h"
#include "wfstore/logger.h"
#include "wfstore/maintenance.h"
#include "wfstore/model.h"
#include "wfstore/queue.h"
#include "wfstore/queue_processor.h"
#include "wfstore/recovery.h"
#include "wfstore/transaction.h"

#include "tools/commands.h"
#include "tools/demo_engine.h"
#include "tools/demo_fleet.h"
#ifdef WFSTORE_WITH_KAFKA
#include "tools/kafka_demo.h"
#endif
#include "tools/history_print.h"
#include "wfstore_internal/log_verify.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore::tools {
namespace {

struct DemoOptions {
  std::string dir;
  bool json = false;
  FleetOptions fleet;
};

// build -> (unit-tests | integration-tests) -> canary (before: lock, after:
// notify) -> prod
Workflow deployment(const std::string& id, const std::string& service,
                    int build_number) {
  Workflow wf;
  wf.id = id;
  wf.application = "payments";
  wf.name = fmt::format("deploy {} #{}", service, build_number);
  wf.pipeline_config_id = "deploy-" + service;
  wf.origin = "api";
  wf.trigger.type = "git";
  wf.trigger.user = "ci-bot";
  wf.trigger.parameters =
      Json(nlohmann::json{{"branch", "main"}, {"build", build_number}});
  wf.context =
      Json(nlohmann::json{{"service", service}, {"region", "eu-west-1"}});
  wf.stages.push_back(make_stage(wf, "build", "build", "Build", {},
                                 {{"command", "make release"}}));
  wf.stages.push_back(make_stage(wf, "unit", "unit-tests", "Unit tests",
                                 {"build"}, {{"suite", "unit"}}));
  wf.stages.push_back(make_stage(wf, "integ", "integration-tests",
                                 "Integration tests", {"build"},
                                 {{"suite", "integration"}}));
  add_guarded_deploy(wf, "canary", "Canary deploy",
                     {"unit-tests", "integration-tests"}, 5, service);
  wf.stages.push_back(make_stage(wf, "prod", "prod", "Production deploy",
                                 {"canary"}, {{"percent", 100}}));
  return wf;
}

// The permission bits of `path`, as octal text.
std::string mode_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "?";
  return fmt::format("{:04o}", st.st_mode & 07777);
}

// Appends bytes that are no log record to the end of the live segment, as a
// crash in the middle of a write leaves it. Returns the segment's name.
std::string tear_log_tail(const std::filesystem::path& dir) {
  std::filesystem::path last;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "log")) {
    if (entry.path().extension() == ".log" && entry.path() > last)
      last = entry.path();
  }
  std::shared_ptr<FileSystem> fs = posix_file_system();
  std::unique_ptr<WritableFile> file = fs->open_writable(last);
  file->append(std::string(300, '\xa5'));
  file->sync();
  file->close();
  return last.filename().string();
}

// Prints the log's history: with `json` every event as its JSON document;
// else the event count per type and, in full, the first commit that carries
// a stage change with its messages (one transaction, one record).
std::size_t print_history(const std::filesystem::path& dir, bool json) {
  std::size_t events = 0;
  std::map<std::string_view, std::size_t> per_type;
  // The events of the commit being read, and the first commit that carries a
  // stage change with its messages.
  std::vector<Event> commit;
  std::vector<Event> shown;
  const auto take_commit = [&] {
    bool stage = false;
    bool push = false;
    for (const Event& event : commit) {
      stage |= event.type() == EventType::kStageUpdated;
      push |= event.type() == EventType::kMessagePushed;
    }
    if (shown.empty() && stage && push) shown = commit;
    commit.clear();
  };
  for_each_event(
      dir, 0,
      [&](const Event& event) {
        if (!commit.empty() && commit.front().commit_id != event.commit_id)
          take_commit();
        commit.push_back(event);
        ++events;
        ++per_type[event_type_name(event.type())];
        if (json) std::cout << event_to_json(event).dump() << "\n";
        return true;
      },
      [](LogLevel, std::string_view message) {
        std::cerr << "damage: " << message << "\n";
      });
  take_commit();
  if (json) return events;
  for (const auto& [type, count] : per_type) {
    std::cout << fmt::format("  {:<24} {:>4}\n", type, count);
  }
  std::cout << "# one transaction, one log record (commit "
            << (shown.empty() ? 0 : shown.front().commit_id) << "):\n";
  for (const Event& event : shown) {
    std::cout << fmt::format(
        "  lsn {:>3} {:<18} {}\n", event.lsn, event_type_name(event.type()),
        payload_to_json(event.payload).dump().substr(0, 90));
  }
  return events;
}
// Every file of the store in `dir` but its views and lock files (name and
// bytes): what must not change while the store is only read.
std::map<std::string, std::string> store_files(
    const std::filesystem::path& dir) {
  std::map<std::string, std::string> files;
  const std::shared_ptr<FileSystem> fs = posix_file_system();
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string name =
        std::filesystem::relative(entry.path(), dir).string();
    if (name.rfind("views", 0) == 0 || name == "LOCK") continue;
    files[name] = fs->read_file(entry.path());
  }
  return files;
}

// Time travel on the failed workflow: its history, its state just before
// the failure (the commit that ended it TERMINAL) and the diff from there to
// the end; then a fork of the store just before the failure, on which the
// engine, with the failure's cause fixed, goes on from that point, while the
// original stays as it was. Returns false if the re-run did not succeed.
bool replay_failure(const std::filesystem::path& dir,
                    const DatabaseOptions& db_options,
                    const std::string& failed_id,
                    const std::filesystem::path& pictures) {
  std::uint64_t failure = 0;
  std::uint64_t end = 0;
  std::filesystem::path fork_dir =
      std::filesystem::temp_directory_path() /
      fmt::format("wfstore-demo-fork-{}", static_cast<long>(::getpid()));
  std::filesystem::remove_all(fork_dir);
  const std::map<std::string, std::string> files_before = store_files(dir);
  {
    auto db = Database::open_read_only(dir, db_options);
    const History history(*db);
    EventQuery query;
    query.workflow_id = failed_id;
    query.types = {EventType::kWorkflowStatusSet};  // a handler's transaction
    std::optional<Event> failed;
    for (const Event& event : history.events(query)) {
      if (std::get<WorkflowStatusSet>(event.payload).status ==
          WorkflowStatus::kTerminal) {
        failed = event;
        break;
      }
    }
    if (!failed) return false;
    failure = failed->lsn;
    end = history.current_lsn();
    std::cout << "# time travel: the history of " << failed_id
              << " (wfstore history ID --dir D):\n";
    print_workflow_history(history, failed_id, false);
    // The last LSN before the commit that failed it.
    const std::uint64_t before = failed->commit_id - 1;
    std::cout << fmt::format(
        "# its state just before the failure at lsn {} (wfstore show ID "
        "--at {} --dir D):\n",
        failure, before);
    print_workflow(*history.workflow_as_of(failed_id, before), before, false);
    std::cout << fmt::format(
        "# what changed from there to the end (wfstore diff ID {} {} --dir "
        "D):\n",
        before, end);
    print_diff(history.diff(failed_id, before, end), false);
    const ForkReport fork = history.fork(before, fork_dir);
    std::cout << fmt::format(
        "# forked the store just before the failure (wfstore fork --at {} "
        "--out {}): new store {}, {} events, last lsn {}\n",
        before, fork_dir.string(), fork.store_id, fork.events, fork.last_lsn);
  }
  bool ok = false;
  WorkflowTimeline rerun_timeline;
  {
    // The fix: the canary's health check passes. On the fork the canary's
    // CompleteStage delivery is still queued, leased by the worker that
    // failed it; it is delivered again when that lease expires.
    auto db = Database::open(fork_dir, db_options);
    WorkflowStore& store = db->workflow_store();
    Queue queue(*db);
    std::cout << "# the engine, fixed, runs on the fork from that point ("
              << queue.size() << " message queued):\n";
    DemoEngine engine(store, queue, /*fixed=*/true, failed_id);
    CommitWaiter waiter(*db);
    QueueProcessor processor(store, queue, engine_config());
    engine.register_with(processor);
    processor.start();
    ok = waiter.wait_for([&] {
      return store.retrieve_execution_summary(failed_id).status ==
             WorkflowStatus::kSucceeded;
    });
    processor.stop();
    rerun_timeline = workflow_timeline(History(*db), failed_id);
    std::cout << fmt::format(
        "# on the fork: {} is {}, {} dead letters\n", failed_id,
        status_name(store.retrieve_execution_summary(failed_id).status),
        queue.dlq_size());
  }
  {
    auto db = Database::open_read_only(dir, db_options);
    const Workflow original =
        db->workflow_store().retrieve_execution_summary(failed_id);
    std::cout << fmt::format(
        "# the original is untouched: {} is {} (canceled={}), last lsn still "
        "{}, its log and STORE files {}\n",
        failed_id, status_name(original.status), original.is_canceled,
        History(*db).current_lsn(),
        store_files(dir) == files_before ? "byte-identical" : "CHANGED");
    ok &= store_files(dir) == files_before;
    // The failed workflow's timeline: the stages that succeeded, the canary
    // whose health check failed and the workflow that ended TERMINAL.
    const WorkflowTimeline timeline =
        workflow_timeline(History(*db), failed_id);
    const std::filesystem::path picture =
        pictures / fmt::format("timeline-{}.svg", failed_id);
    write_timeline_svg(timeline, picture);
    std::cout << "# the failed workflow's timeline (wfstore timeline ID "
                 "--dir D):\n";
    print_timeline(timeline, false);
    std::cout << "# its picture (wfstore timeline ID --svg FILE --dir D): "
              << picture.string() << "\n";
    const std::filesystem::path rerun =
        pictures / fmt::format("timeline-{}-fork.svg", failed_id);
    write_timeline_svg(rerun_timeline, rerun);
    std::cout << "# and the fixed re-run's on the fork: " << rerun.string()
              << "\n";
  }
  std::filesystem::remove_all(fork_dir);
  return ok;
}

int run_demo(const DemoOptions& options) {
  std::filesystem::path dir = options.dir;
  std::filesystem::path scratch;
  if (dir.empty()) {
    scratch = std::filesystem::temp_directory_path() /
              fmt::format("wfstore-demo-{}", static_cast<long>(::getpid()));
    std::filesystem::remove_all(scratch);
    dir = scratch;
  }
  DatabaseOptions db_options;
  db_options.logger = [](LogLevel level, std::string_view message) {
    std::cout << "  [" << log_level_name(level) << "] " << message << "\n";
  };
  db_options.queue.lease_duration = std::chrono::milliseconds{2000};
  db_options.queue.max_attempts = 3;
  Workflow api = deployment("01JDEPLOYPAYMENTSAPI000001", "payments-api", 418);
  Workflow ledger = deployment("01JDEPLOYLEDGER00000000002", "ledger", 77);
  Workflow billing = deployment("01JDEPLOYBILLING0000000003", "billing", 12);
  bool ok = true;

  std::cout << "# wfstore demo: store directory " << dir.string() << "\n";
  {
    auto db = Database::open(dir, db_options);
    WorkflowStore& store = db->workflow_store();
    Queue queue(*db);
    {
      AuditScope audit({"alice@example.com", "release-2025-11-28", "", "api"});
      store.store(api);
      store.store(ledger);
      store.store(billing);
      StartWorkflow start;
      start.execution_id = api.id;
      queue.push(start);
    }
    std::cout << "# stored 3 workflows with 7 stages each and queued "
                 "StartWorkflow (durable: fdatasync per commit)\n";

    std::cout << "# an engine of 2 worker threads runs '" << api.name
              << "' from the queue; each handler is one transaction (stage "
                 "compare-and-set + dedup mark + next messages, one log "
                 "record):\n";
    DemoEngine engine(store, queue, /*fixed=*/false, billing.id);
    CommitWaiter waiter(*db);
    const QueueProcessorConfig config = engine_config();
    {
      AuditScope scheduler({"scheduler", api.id, "", "engine"});
      QueueProcessor processor(store, queue, config);
      engine.register_with(processor);
      processor.start();
      ok &= waiter.wait_for([&] {
        return store.retrieve_execution_summary(api.id).status ==
               WorkflowStatus::kSucceeded;
      });
      engine.say("# the engine runs '" + billing.name +
                 "'; its canary's health check fails:");
      StartWorkflow start;
      start.execution_id = billing.id;
      queue.push(start);
      ok &= waiter.wait_for([&] {
        return store.retrieve_execution_summary(billing.id).status ==
               WorkflowStatus::kTerminal;
      });
      // A poison message: its handler always throws, so it is retried until
      // it reaches max_attempts and the processor's sweep dead-letters it.
      RunTask poison;
      poison.execution_id = ledger.id;
      poison.stage_id = ledger.stages.front().id;
      poison.task_id = ledger.stages.front().tasks.front().id;
      poison.task_type = "explode";
      queue.push(poison);
      ok &= waiter.wait_for([&] { return queue.dlq_size() == 1; });
      processor.stop();
      const QueueProcessorStats stats = processor.stats();
      std::cout << fmt::format(
          "# processor: {} handled, {} failed and rescheduled, {} "
          "dead-lettered; queue size {}\n",
          stats.handled, stats.failed, stats.dead_lettered, queue.size());
    }
    for (const DeadLetter& letter : queue.list_dlq()) {
      std::cout << fmt::format("# dead letter {} ({}): {} after {} attempts\n",
                               letter.id, letter.message_type, letter.error,
                               letter.attempts);
      std::cout << "# replay_dlq(" << letter.id << ") -> " << std::boolalpha
                << queue.replay_dlq(letter.id) << ", queue size "
                << queue.size() << "; cleared: ";
      queue.clear();
      std::cout << queue.size() << "\n";
    }

    // A redelivery after a crash between commit and ack: the handler's
    // transaction already marked the delivery, so the processor skips it.
    {
      CompleteWorkflow again;
      again.execution_id = api.id;
      const std::uint64_t id = queue.push(again);
      const std::optional<Delivery> delivery = queue.poll_one();
      run_transaction(store, &queue, [&](Transaction& txn) {
        txn.mark_message_processed(delivery->message_id(),
                                   "CompleteWorkflowHandler", api.id);
      });
      queue.reschedule(id, std::chrono::milliseconds{0});  // "crashed": no ack
      QueueProcessor processor(store, queue, config);
      engine.register_with(processor);
      processor.process_one();
      std::cout << fmt::format(
          "# delivery {} redelivered after a crash before its ack: {} "
          "deduplicated (handler not run), queue size {}\n",
          id, processor.stats().deduplicated, queue.size());
    }

    // A transaction whose commit loses a race appends nothing.
    {
      StageExecution stale =
          store.retrieve_stage(api.stages.front().id).stage();
      StageExecution rival = stale;
      Transaction txn = store.transaction(&queue);
      stale.context.mutable_value()["note"] = "from a stale copy";
      txn.store_stage(stale);
      StartStage next;
      next.execution_id = api.id;
      next.stage_id = api.stages[1].id;
      txn.push_message(next);
      store.store_stage(rival);  // a rival commit wins the stage first
      const std::uint64_t lsn_before = db->stats().applied_lsn;
      try {
        txn.commit();
      } catch (const ConcurrencyError& e) {
        std::cout << "# a transaction that lost a race is refused whole: "
                  << e.what() << " (lsn still " << db->stats().applied_lsn
                  << " == " << lsn_before << ", queue size " << queue.size()
                  << ")\n";
      }
    }
    const std::uint64_t lsn_before = db->stats().applied_lsn;
    Workflow bad = ledger;
    bad.id.clear();
    try {
      store.store(bad);
    } catch (const InvalidArgumentError& e) {
      std::cout << "# bad input is refused and appends nothing: " << e.what()
                << " (lsn still " << db->stats().applied_lsn
                << " == " << lsn_before << ")\n";
    }
    try {
      AuditScope broken({"mallory\xff", "", "", "api"});
      store.pause(ledger.id, "mallory");
    } catch (const InvalidArgumentError& e) {
      std::cout << "# an audit field that is not UTF-8 is refused before "
                   "anything is written: "
                << e.what() << " (lsn still " << db->stats().applied_lsn
                << ")\n";
    }
    try {
      CompleteTask forged;
      forged.execution_id = api.id;
      forged.stage_id = api.stages.front().id;
      forged.task_id = api.stages.front().tasks.front().id;
      forged.status = static_cast<WorkflowStatus>(50);
      queue.push(forged);
    } catch (const InvalidArgumentError& e) {
      std::cout << "# a message with an integer cast into an enum is refused: "
                << e.what() << " (queue size " << queue.size() << ")\n";
    }

    AuditScope operator_scope({"bob@example.com", ledger.id, "", "cli"});
    store.pause(ledger.id, "bob@example.com");
    store.resume(ledger.id);
    store.resume(ledger.id);  // not PAUSED any more: a logged no-op
    store.cancel(ledger.id, "bob@example.com", "freeze window");
  }
  std::cout << fmt::format(
      "# the store is private to its owner: {} {}, STORE {}, log/ {}\n",
      dir.filename().string(), mode_of(dir), mode_of(dir / "STORE"),
      mode_of(dir / "log"));
  const std::string torn = tear_log_tail(dir);
  std::cout << "# a crash in the middle of a write left 300 bytes of garbage "
               "at the end of "
            << torn << "; reopening cuts them and keeps them aside:\n";

  {
    auto db = Database::open(dir, db_options);
    WorkflowStore& store = db->workflow_store();
    Queue queue(*db);
    std::cout << "# reopened; workflows of application 'payments' (newest "
                 "first):\n";
    for (const Workflow& wf : store.retrieve_by_application("payments")) {
      std::cout << fmt::format("  {} {:<24} {:<10} canceled={} stages={}\n",
                               wf.id, wf.name, status_name(wf.status),
                               wf.is_canceled, wf.stages.size());
    }
    std::cout << "# 'prod' sees its ancestors' outputs: "
              << store.get_merged_ancestor_outputs(api.id, "prod").dump()
              << "\n";
    RecoveryOptions recovery;
    recovery.max_age = std::chrono::hours{24 * 365 * 100};
    for (const RecoveryResult& r : recover_pending(store, queue, recovery)) {
      std::cout << fmt::format(
          "# recover_pending: {} {}: {} ({} messages pushed)\n", r.workflow_id,
          outcome_name(r.outcome), r.message, r.messages_pushed);
    }
    const DatabaseStats stats = db->stats();
    std::cout << fmt::format(
        "# stats since reopening: {} commits in {} groups, {} fdatasyncs; "
        "applied lsn {}, "
        "durable lsn {}\n",
        stats.commits, stats.groups, stats.fdatasyncs, stats.applied_lsn,
        stats.durable_lsn);
  }

  std::cout << "# the history (the log, decoded; --json prints every event):\n";
  const std::size_t events = print_history(dir, options.json);
  std::shared_ptr<FileSystem> fs = posix_file_system();
  const StoreDir store_dir = StoreDir::open_existing(fs, dir, /*lock=*/false);
  const log::VerifyReport report =
      log::verify_log(fs, store_dir.log_dir(), store_dir.id());
  const ViewsVerifyReport views = verify_store_views(dir);
  std::cout << fmt::format(
      "# verify: {} events in {} commits, LSN {}..{}, hash chain intact, head "
      "hash {}\n# views {} a rebuild from the log (checksum {})\n",
      events, report.commits, report.first_lsn, report.last_lsn,
      log::to_hex(report.head_hash), views.equal() ? "equal" : "DIFFER FROM",
      views.checksum.substr(0, 16));
  if (!ok) std::cout << "# FAILED: the engine did not finish in time\n";
  // The timeline pictures go into the store directory, or beside the
  // scratch store (which is removed) when there is none.
  const std::filesystem::path pictures =
      scratch.empty() ? dir : dir.parent_path();
  const bool replayed = replay_failure(dir, db_options, billing.id, pictures);
  if (!replayed) std::cout << "# FAILED: the re-run on the fork\n";
  ok &= replayed;
#ifdef WFSTORE_WITH_KAFKA
  // The replica goes beside the store: <dir>-replica.
  const std::filesystem::path replica_dir = dir.string() + "-replica";
  const bool streamed = run_kafka_demo(dir, replica_dir, billing.id);
  if (!streamed)
    std::cout << "# FAILED: the Kafka export, consumer or replica\n";
  ok &= streamed;
  if (!scratch.empty()) std::filesystem::remove_all(replica_dir);
#endif
  if (options.fleet.workflows > 0) ok &= run_fleet(dir, options.fleet);
  if (!scratch.empty()) std::filesystem::remove_all(scratch);
  // The last line: how to look at the store in a browser (the demo starts
  // no server). A scratch store is gone by now; --dir keeps one.
  if (scratch.empty()) {
    std::cout << "# look at it in a browser (read-only; a writer may go on): "
                 "wfstore serve --dir "
              << std::filesystem::absolute(dir).string() << "\n";
  } else {
    std::cout << "# look at it in a browser: this store was temporary and is "
                 "removed; run wfstore demo --dir D to keep it, then "
                 "wfstore serve --dir D\n";
  }
  return views.equal() && ok ? 0 : 1;
}

}  // namespace

void add_demo_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand("demo", "Run the wfstore demonstration");
  cmd->add_option(
      "--dir", options->dir,
      "Store directory to create (missing or empty; the Kafka read replica "
      "goes to <dir>-replica, missing or empty too); default: a temporary "
      "one, removed afterwards");
  cmd->add_flag("--json", options->json,
                "Print every event as its full JSON document");
  cmd->add_option("--fleet", options->fleet.workflows,
                  "Workflows in the fleet run at the end (0: no fleet)")
      ->capture_default_str();
  cmd->add_option("--fleet-workers", options->fleet.workers,
                  "Worker threads of the fleet's processor")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--summary-json", options->fleet.summary_json,
                  "Write the fleet's summary to FILE as one JSON document "
                  "(not with --fleet 0)");
  action = [options] { return run_demo(*options); };
}

}  // namespace wfstore::tools
