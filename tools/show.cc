// `wfstore show ID --dir D [--at LSN|TIME] [--json]`: one workflow, now or as
// of a point in history, as a table (its fields, then its stages in order
// with their tasks) or as one JSON document (workflow_to_json plus
// "as_of_lsn"). Read-only.

#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/history.h"
#include "wfstore/history_documents.h"
#include "wfstore/model.h"

#include "tools/cli_support.h"
#include "tools/commands.h"
#include "tools/history_print.h"
#include "tools/time_arg.h"

namespace wfstore::tools {
namespace {

struct ShowOptions {
  std::string id;
  std::string dir;
  std::string at;  // empty: now
  bool json = false;
};

// A JSON value for a table cell: strings bare, times (members named *_time)
// as ISO-8601, null as "-", the rest compact and truncated.
std::string cell(const std::string& key, const nlohmann::json& value,
                 std::size_t width = 60) {
  if (value.is_null()) return "-";
  if (value.is_string()) return truncated(value.get<std::string>(), width);
  if (value.is_number_integer() && key.size() > 5 &&
      key.compare(key.size() - 5, 5, "_time") == 0) {
    return format_time_ms(value.get<std::int64_t>());
  }
  return truncated(value.dump(), width);
}

void print_table(const nlohmann::json& wf, std::uint64_t as_of) {
  std::cout << fmt::format("workflow {} as of lsn {}\n",
                           wf.at("id").get<std::string>(), as_of);
  for (const auto& [key, value] : wf.items()) {
    if (key == "stages" || key == "id") continue;
    std::cout << fmt::format("  {:<26} {}\n", key, cell(key, value));
  }
  const nlohmann::json& stages = wf.at("stages");
  std::cout << fmt::format("stages ({})\n", stages.size());
  std::cout << fmt::format("  {:<3} {:<24} {:<24} {:<16} {:>7}  {:<24}  {}\n",
                           "#", "ref_id", "name", "status", "version",
                           "start_time", "end_time");
  std::size_t position = 0;
  for (const nlohmann::json& stage : stages) {
    std::cout << fmt::format(
        "  {:<3} {:<24} {:<24} {:<16} {:>7}  {:<24}  {}\n", position++,
        cell("ref_id", stage.at("ref_id"), 24),
        cell("name", stage.at("name"), 24), cell("status", stage.at("status")),
        stage.at("version").dump(), cell("start_time", stage.at("start_time")),
        cell("end_time", stage.at("end_time")));
    std::cout << fmt::format("      stage id {}\n",
                             stage.at("id").get<std::string>());
    for (const nlohmann::json& task : stage.at("tasks")) {
      std::cout << fmt::format(
          "      task {:<30} {:<20} {:<16} v{}  {}  {}\n",
          cell("id", task.at("id"), 30), cell("name", task.at("name"), 20),
          cell("status", task.at("status")), task.at("version").dump(),
          cell("start_time", task.at("start_time")),
          cell("end_time", task.at("end_time")));
    }
  }
}

int run_show(const ShowOptions& o) {
  // A bad id is a usage error with or without --at (retrieve() would report
  // it as not found).
  validate_key(o.id, "workflow_id");
  auto db = open_store(o.dir);
  const WorkflowAsOf found = read_workflow_as_of(*db, o.id, o.at);
  if (!found.workflow) {
    throw ToolError(kExitNotFound,
                    fmt::format("workflow {} does not exist as of lsn {}", o.id,
                                found.as_of_lsn));
  }
  print_workflow(*found.workflow, found.as_of_lsn, o.json);
  return kExitOk;
}

}  // namespace

void print_workflow(const Workflow& workflow, std::uint64_t as_of_lsn,
                    bool json) {
  if (json) {
    std::cout << workflow_document(workflow, as_of_lsn).dump() << '\n';
  } else {
    print_table(workflow_to_json(workflow), as_of_lsn);
  }
}

void add_show_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<ShowOptions>();
  CLI::App* cmd = app.add_subcommand(
      "show",
      "Print a workflow with its stages and tasks, now or as of a "
      "point in history");
  cmd->add_option("id", o->id, "The workflow id")->required();
  cmd->add_option("--dir", o->dir, "The store directory")->required();
  cmd->add_option("--at", o->at,
                  "As of this point: " + std::string(kPointForms))
      ->check(point_validator());
  cmd->add_flag("--json", o->json,
                "Print one JSON document: the workflow and \"as_of_lsn\"");
  action = [o] { return run_show(*o); };
}

}  // namespace wfstore::tools
