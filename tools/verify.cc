// `wfstore verify --dir D [--json]`: checks the log of a store (checksums,
// LSN continuity, segment header chain, hash chain), prints its head hash,
// and checks that the views equal a rebuild of the log at their LSN.
// Read-only; takes no lock. Damage or a difference is the check failing
// (exit 1); with --json the one document says what failed.

#include <iostream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "wfstore/errors.h"
#include "wfstore/file_system.h"
#include "wfstore/maintenance.h"

#include "tools/cli_support.h"
#include "tools/commands.h"
#include "wfstore_internal/log_verify.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore::tools {
namespace {

// What verify found, printed as lines or as one JSON document.
struct Verification {
  std::string store_id;
  std::optional<log::VerifyReport> log;
  std::optional<ViewsVerifyReport> views;  // nullopt: the store has none
  std::string error;                       // the damage found, "" when none was
  bool ok() const { return error.empty() && log && (!views || views->equal()); }
};

Verification verify(const std::string& dir) {
  require_store(dir);
  const std::shared_ptr<FileSystem> fs = posix_file_system();
  Verification v;
  try {
    const StoreDir store = StoreDir::open_existing(fs, dir, false);
    v.store_id = store.id().to_string();
    v.log = log::verify_log(fs, store.log_dir(), store.id());
    if (fs->exists(store.views_dir() / "data.mdb")) {
      v.views = verify_store_views(dir);
    }
  } catch (const CorruptionError& e) {
    v.error = e.what();
  }
  return v;
}

nlohmann::json to_json(const Verification& v) {
  nlohmann::json doc = {{"ok", v.ok()}, {"store_id", v.store_id}};
  if (v.log) {
    doc["segments"] = v.log->segments;
    doc["commits"] = v.log->commits;
    doc["first_lsn"] = v.log->first_lsn;
    doc["last_lsn"] = v.log->last_lsn;
    doc["bytes"] = v.log->bytes;
    doc["head_hash"] = log::to_hex(v.log->head_hash);
  }
  doc["views"] = v.views.has_value();
  if (v.views) {
    doc["applied_lsn"] = v.views->applied_lsn;
    doc["checksum"] = v.views->checksum;
    doc["rebuilt_checksum"] = v.views->rebuilt_checksum;
    doc["differences"] = v.views->differences;
  }
  doc["error"] =
      v.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(v.error);
  return doc;
}

int print_lines(const Verification& v) {
  if (!v.error.empty() && !v.log) {
    std::cerr << "wfstore: " << v.error << '\n';
    return kExitCheckFailed;
  }
  const log::VerifyReport& r = *v.log;
  std::cout << "store:     " << v.store_id << '\n'
            << "segments:  " << r.segments << '\n'
            << "commits:   " << r.commits << '\n'
            << "last lsn:  " << r.last_lsn << '\n'
            << "bytes:     " << r.bytes << '\n'
            << "head hash: " << log::to_hex(r.head_hash) << '\n'
            << "log ok\n";
  if (!v.error.empty()) {
    std::cerr << "wfstore: " << v.error << '\n';
    return kExitCheckFailed;
  }
  if (!v.views) {
    std::cout << "views:     none\n";
    return kExitOk;
  }
  const ViewsVerifyReport& views = *v.views;
  std::cout << "views lsn: " << views.applied_lsn << '\n'
            << "checksum:  " << views.checksum << '\n'
            << "rebuilt:   " << views.rebuilt_checksum << '\n';
  for (const std::string& difference : views.differences) {
    std::cout << "differs:   " << difference << '\n';
  }
  if (!views.equal()) {
    std::cout << "views differ from a rebuild of the log\n";
    return kExitCheckFailed;
  }
  std::cout << "views ok (equal a rebuild at the same lsn)\n";
  return kExitOk;
}

}  // namespace

void add_verify_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand(
      "verify",
      "Check a store's log (checksums, LSN continuity, header and hash chains) "
      "and that its views equal a rebuild");
  auto dir = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--dir", *dir, "The store directory")->required();
  cmd->add_flag("--json", *json,
                "Print one JSON document (ok, last_lsn, head_hash, checksum, "
                "rebuilt_checksum, differences, error, ...)");
  action = [dir, json] {
    const Verification v = verify(*dir);
    if (!*json) return print_lines(v);
    std::cout << to_json(v).dump() << '\n';
    return v.ok() ? kExitOk : kExitCheckFailed;
  };
}

}  // namespace wfstore::tools
