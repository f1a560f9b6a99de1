// `wfstore fork --dir D --at LSN|TIME --out DIR [--json]`: writes a new,
// independent store in DIR whose log is D's through the commit that holds
// the point (an LSN in the middle of a commit takes the whole commit), with
// a new store id and its views built. D is only read; a writer may go on.

#include <cstdint>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "wfstore/history.h"

#include "tools/cli_support.h"
#include "tools/commands.h"
#include "tools/time_arg.h"

namespace wfstore::tools {
namespace {

struct ForkOptions {
  std::string dir;
  std::string at;
  std::string out;
  bool json = false;
};

int run_fork(const ForkOptions& o) {
  auto db = open_store(o.dir);
  const History history(*db);
  const std::uint64_t lsn = resolve_point(history, o.at);
  if (lsn == 0) {
    throw ToolError(
        kExitNotFound,
        fmt::format("no commit at or before {}: nothing to fork", o.at));
  }
  progress(fmt::format("wfstore: forking {} through lsn {} into {} ...", o.dir,
                       lsn, o.out));
  const ForkReport report = history.fork(lsn, o.out);
  const std::string source = store_id(*db);
  if (o.json) {
    std::cout << nlohmann::json{{"out", o.out},
                                {"store_id", report.store_id},
                                {"source_store_id", source},
                                {"requested_lsn", lsn},
                                {"last_lsn", report.last_lsn},
                                {"events", report.events},
                                {"log_bytes", report.log_bytes},
                                {"seconds", report.seconds}}
                     .dump()
              << '\n';
    return kExitOk;
  }
  std::cout << fmt::format(
      "forked {} into {}\n"
      "  new store id: {}\n"
      "  fork of:      {} at lsn {} (requested {}{})\n"
      "  events:       {} ({} log bytes, {:.3f} s)\n",
      o.dir, o.out, report.store_id, source, report.last_lsn, lsn,
      report.last_lsn == lsn ? "" : ", rounded up to its commit's end",
      report.events, report.log_bytes, report.seconds);
  return kExitOk;
}

}  // namespace

void add_fork_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<ForkOptions>();
  CLI::App* cmd = app.add_subcommand(
      "fork",
      "Write a new store whose history is this one's up to a point (the "
      "whole commit that holds it), for replaying from there");
  cmd->add_option("--dir", o->dir, "The store directory (only read)")
      ->required();
  cmd->add_option("--at", o->at,
                  "Up to this point: " + std::string(kPointForms))
      ->required()
      ->check(point_validator());
  cmd->add_option("--out", o->out,
                  "The new store's directory (missing or empty)")
      ->required();
  cmd->add_flag("--json", o->json, "Print one JSON document");
  action = [o] { return run_fork(*o); };
}

}  // namespace wfstore::tools
