// The wfstore command-line tool. Every subcommand parses its arguments and
// calls a tested library function. Exit codes (README, "Exit codes"):
// 0 success, 1 the check failed, 2 usage, 3 not found, 4 damaged, 5 other
// errors; errors print "wfstore: <message>" on stderr.

#include <exception>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "tools/cli_support.h"
#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"wfstore: an embeddable event-sourced workflow store"};
  app.require_subcommand(1);
  app.footer(std::string(wfstore::tools::kExitCodesHelp));
  wfstore::tools::register_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : wfstore::tools::kExitUsage;
  }
  try {
    return wfstore::tools::run_selected(app);
  } catch (const std::exception& e) {
    std::cerr << "wfstore: " << e.what() << '\n';
    return wfstore::tools::exit_code_of(e);
  }
}
