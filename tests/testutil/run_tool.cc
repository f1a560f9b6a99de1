#include "tests/testutil/run_tool.h"

#include <array>
#include <cstddef>

#include <stdio.h>
#include <sys/wait.h>

namespace wfstore::testutil {

ToolRun run_tool(const std::string& args, bool with_stderr) {
  ToolRun run;
  std::string command = WFSTORE_TOOL_PATH;
  command += ' ';
  command += args;
  if (with_stderr) command += " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    run.output.append(buffer.data(), n);
  }
  const int status = pclose(pipe);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

}  // namespace wfstore::testutil
