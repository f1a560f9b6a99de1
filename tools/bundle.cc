// `wfstore export ID --dir D --out FILE` writes one workflow's whole history
// as a bundle (D is only read); `wfstore import FILE --dir D` checks a bundle
// and imports it into D as its writer, creating D when it is missing or
// empty.

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>

#include <fmt/format.h>

#include "wfstore/database.h"
#include "wfstore/history.h"

#include "tools/cli_support.h"
#include "tools/commands.h"

namespace wfstore::tools {
namespace {

struct BundleOptions {
  std::string id;
  std::string dir;
  std::string file;
  bool json = false;
};

nlohmann::json info_to_json(const BundleInfo& info, const std::string& file) {
  return {{"file", file},
          {"workflow_id", info.workflow_id},
          {"source_store_id", info.source_store_id},
          {"events", info.events},
          {"first_lsn", info.first_lsn},
          {"last_lsn", info.last_lsn},
          {"bytes", info.bytes},
          {"sha256", info.sha256}};
}

void print_info(const std::string& verb, const BundleInfo& info,
                const std::string& file, bool json) {
  if (json) {
    std::cout << info_to_json(info, file).dump() << '\n';
    return;
  }
  std::cout << fmt::format(
      "{} workflow {}: {} events (lsn {}..{} of store {})\n"
      "  bundle {}: {} bytes, sha256 {}\n",
      verb, info.workflow_id, info.events, info.first_lsn, info.last_lsn,
      info.source_store_id, file, info.bytes, info.sha256);
}

int run_export(const BundleOptions& o) {
  auto db = open_store(o.dir);
  const History history(*db);
  require_workflow_events(history, o.id);
  progress(
      fmt::format("wfstore: exporting workflow {} to {} ...", o.id, o.file));
  const BundleInfo info = history.export_workflow(o.id, o.file);
  print_info("exported", info, o.file, o.json);
  return kExitOk;
}

int run_import(const BundleOptions& o) {
  if (!std::filesystem::exists(o.file)) {
    throw ToolError(kExitNotFound, o.file + ": no such file");
  }
  // Check the whole bundle before the store is created or opened.
  read_bundle_info(o.file);
  const std::filesystem::path dir = o.dir;
  const bool missing = !std::filesystem::exists(dir);
  // An empty directory only: an empty regular file is not a store either.
  const bool created = missing || (std::filesystem::is_directory(dir) &&
                                   std::filesystem::is_empty(dir));
  if (!created) require_store(dir);
  BundleInfo info;
  try {
    auto db = Database::open(dir);
    progress(fmt::format("wfstore: importing {} into {} ...", o.file, o.dir));
    info = import_bundle(*db, o.file);
    db->close();
  } catch (...) {
    // Leave no store behind that this command created.
    if (created) {
      std::error_code ignored;
      if (missing) {
        std::filesystem::remove_all(dir, ignored);
      } else {
        for (const auto& entry : std::filesystem::directory_iterator(dir)) {
          std::filesystem::remove_all(entry.path(), ignored);
        }
      }
    }
    throw;
  }
  print_info("imported", info, o.file, o.json);
  return kExitOk;
}

}  // namespace

void add_export_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<BundleOptions>();
  CLI::App* cmd = app.add_subcommand(
      "export", "Write one workflow's whole history to a bundle file");
  cmd->add_option("id", o->id, "The workflow id")->required();
  cmd->add_option("--dir", o->dir, "The store directory (only read)")
      ->required();
  cmd->add_option("--out", o->file,
                  "The bundle file to create (must not exist)")
      ->required();
  cmd->add_flag("--json", o->json, "Print one JSON document");
  action = [o] { return run_export(*o); };
}

void add_import_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<BundleOptions>();
  CLI::App* cmd = app.add_subcommand(
      "import", "Import a bundle into a store (created when missing or empty)");
  cmd->add_option("file", o->file, "The bundle file")->required();
  cmd->add_option("--dir", o->dir, "The store directory")->required();
  cmd->add_flag("--json", o->json, "Print one JSON document");
  action = [o] { return run_import(*o); };
}

}  // namespace wfstore::tools
