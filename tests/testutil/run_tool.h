// Runs the built `wfstore` tool as a real process, for the tests of its
// subcommands.

#pragma once

#include <string>

namespace wfstore::testutil {

struct ToolRun {
  int status = -1;  // the exit code, or -1 if the process did not exit normally
  std::string output;
};

// Runs `wfstore <args>` through the shell and collects its standard output (and
// its standard error too when `with_stderr`).
ToolRun run_tool(const std::string& args, bool with_stderr = true);

}  // namespace wfstore::testutil
