// A forked child process for SIGKILL crash tests: the child runs a function
// and reports progress as lines through a pipe; the parent reads them, kills
// the child at a moment of its choosing and reaps it.

#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

namespace wfstore::testutil {

// Thread-safety: none; one thread owns a ChildProcess. Fork only while the
// parent runs no other threads that hold locks the child needs (close every
// Database first).
class ChildProcess {
 public:
  // Forks. The child runs body(report_fd), report_fd being the pipe's write
  // end, then _exit(0); an exception escaping `body` prints its what() to
  // stderr and _exit(2). Throws std::system_error when pipe() or fork() fails.
  static ChildProcess spawn(const std::function<void(int report_fd)>& body);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Kills (SIGKILL) and reaps the child if it still runs; closes the pipe.
  ~ChildProcess();

  pid_t pid() const { return pid_; }

  // The next line the child reported (without '\n'), blocking; nullopt once
  // the child has exited or closed the pipe and every line was read.
  std::optional<std::string> read_line();

  // Sends SIGKILL and reaps the child; returns its wait status.
  int kill_and_wait();
  // Reaps the child without killing it; returns its wait status.
  int wait();

  // Every line left in the pipe; call after the child was reaped.
  std::vector<std::string> drain();

 private:
  ChildProcess(pid_t pid, int read_fd) : pid_(pid), read_fd_(read_fd) {}

  pid_t pid_ = -1;  // -1 once reaped
  int read_fd_ = -1;
  std::string buffer_;
  bool eof_ = false;
};

// The crash loops' kill: hands the child's next `lines` reported lines to
// `on_line`, sleeps `delay`, kills the child with SIGKILL and hands every line
// it reported meanwhile to `on_line`. A fatal test failure when the child ends
// by itself before the kill; call it inside ASSERT_NO_FATAL_FAILURE.
void kill_after_lines(ChildProcess& child, int lines,
                      std::chrono::microseconds delay,
                      const std::function<void(const std::string&)>& on_line);

// Forks a child that runs `body` and exits with the code it returns (2 when
// `body` throws). Returns that exit code, or -1 when fork() fails or the child
// does not exit normally. For "can another process ..." checks of locks.
// kSkip forks with _Fork(), which runs no pthread_atfork handlers (a child
// that libraries' fork hooks do not see); call it only while the process runs
// one thread, since such a child may find another thread's locks held.
enum class ForkHandlers { kRun, kSkip };
int exit_code_in_child(const std::function<int()>& body,
                       ForkHandlers handlers = ForkHandlers::kRun);

// Child side: writes `line` and '\n' to `fd` with one write(2) (atomic for a
// pipe up to PIPE_BUF bytes); _exit(3) when the write fails.
void report_line(int fd, std::string_view line);

// "signal 9", "exit 2", ...: a wait status for failure messages.
std::string describe_wait_status(int status);

}  // namespace wfstore::testutil
