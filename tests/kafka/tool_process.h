// The wfstore tool as a child process for the Kafka process tests: its
// standard output is the ChildProcess's report pipe (read_line()), its
// standard error the test's.

#pragma once

#include <string>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/testutil/child_process.h"

namespace wfstore::testutil {

// Runs `wfstore <args...>`; _exit(127) when exec fails.
inline ChildProcess spawn_tool(const std::vector<std::string>& args) {
  return ChildProcess::spawn([args](int report_fd) {
    std::vector<char*> argv;
    std::string tool = WFSTORE_TOOL_PATH;
    argv.push_back(tool.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    dup2(report_fd, STDOUT_FILENO);
    execv(tool.c_str(), argv.data());
    _exit(127);
  });
}

// Sends SIGTERM and reaps `child`; returns its exit code, or -1 when it did
// not exit normally.
inline int terminate_and_wait(ChildProcess& child) {
  kill(child.pid(), SIGTERM);
  const int status = child.wait();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace wfstore::testutil
