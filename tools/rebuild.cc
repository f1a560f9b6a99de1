// `wfstore rebuild --dir D`: folds a store's whole log into fresh views in
// views.rebuild/ and swaps them in place of views/ (readers never see
// half-built views). Takes the writer's LOCK.

#include <iostream>
#include <string>

#include "wfstore/maintenance.h"

#include "tools/commands.h"

namespace wfstore::tools {

void add_rebuild_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand(
      "rebuild", "Rebuild a store's views from its log (takes the LOCK)");
  auto dir = std::make_shared<std::string>();
  cmd->add_option("--dir", *dir, "The store directory")->required();
  action = [dir] {
    const RebuildReport r =
        rebuild_store_views(*dir, [](LogLevel level, std::string_view m) {
          std::cerr << "wfstore: " << log_level_name(level) << ": " << m
                    << '\n';
        });
    std::cout << "applied lsn: " << r.applied_lsn << '\n'
              << "events:      " << r.events << '\n'
              << "checksum:    " << r.checksum << '\n'
              << "seconds:     " << r.seconds << '\n'
              << "views rebuilt\n";
    return 0;
  };
}

}  // namespace wfstore::tools
