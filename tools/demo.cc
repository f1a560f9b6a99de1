// `wfstore demo`: the main job, a realistic demonstration of what wfstore does.

#include <iostream>

#include "tools/commands.h"

namespace wfstore::tools {

void add_demo_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("demo", "Run the wfstore demonstration");
  (void)cmd;
  action = [] {
    std::cout << "wfstore demo: the model and codec demonstration lands with "
                 "issue 2\n";
    return 0;
  };
}

}  // namespace wfstore::tools
