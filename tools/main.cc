// The wfstore command-line tool. Every subcommand parses its arguments and
// calls a tested library function; exit codes are 0 ok, 1 error ("wfstore:
// <message>" on stderr), 2 usage.

#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"wfstore: an embeddable event-sourced workflow store"};
  app.require_subcommand(1);
  wfstore::tools::register_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  try {
    return wfstore::tools::run_selected(app);
  } catch (const std::exception& e) {
    std::cerr << "wfstore: " << e.what() << '\n';
    return 1;
  }
}
