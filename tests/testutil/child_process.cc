#include "tests/testutil/child_process.h"

#include <cerrno>
#include <cstdio>
#include <exception>
#include <system_error>
#include <thread>
#include <utility>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace wfstore::testutil {

ChildProcess ChildProcess::spawn(
    const std::function<void(int report_fd)>& body) {
  int fds[2];
  if (::pipe(fds) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe");
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int error = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::system_error(error, std::generic_category(), "fork");
  }
  if (pid == 0) {
    ::close(fds[0]);
    try {
      body(fds[1]);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child %d failed: %s\n", ::getpid(), e.what());
      std::fflush(stderr);
      ::_exit(2);
    } catch (...) {
      ::_exit(2);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  return ChildProcess(pid, fds[0]);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      read_fd_(std::exchange(other.read_fd_, -1)),
      buffer_(std::move(other.buffer_)),
      eof_(other.eof_) {}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) kill_and_wait();
  if (read_fd_ >= 0) ::close(read_fd_);
}

std::optional<std::string> ChildProcess::read_line() {
  for (;;) {
    const std::size_t newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return line;
    }
    if (eof_) return std::nullopt;
    char chunk[4096];
    const ssize_t got = ::read(read_fd_, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      eof_ = true;
      continue;
    }
    buffer_.append(chunk, static_cast<std::size_t>(got));
  }
}

int ChildProcess::kill_and_wait() {
  if (pid_ > 0) ::kill(pid_, SIGKILL);
  return wait();
}

int ChildProcess::wait() {
  int status = 0;
  while (pid_ > 0 && ::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return status;
}

std::vector<std::string> ChildProcess::drain() {
  std::vector<std::string> lines;
  while (std::optional<std::string> line = read_line()) {
    lines.push_back(std::move(*line));
  }
  return lines;
}

void kill_after_lines(ChildProcess& child, int lines,
                      std::chrono::microseconds delay,
                      const std::function<void(const std::string&)>& on_line) {
  for (int i = 0; i < lines; ++i) {
    const std::optional<std::string> line = child.read_line();
    ASSERT_TRUE(line.has_value()) << "the child stopped before the kill: "
                                  << describe_wait_status(child.wait());
    on_line(*line);
  }
  std::this_thread::sleep_for(delay);
  const int status = child.kill_and_wait();
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the child ended before the kill: " << describe_wait_status(status);
  for (const std::string& line : child.drain()) on_line(line);
}

int exit_code_in_child(const std::function<int()>& body,
                       ForkHandlers handlers) {
  const pid_t pid = handlers == ForkHandlers::kRun ? ::fork() : ::_Fork();
  if (pid == 0) {
    try {
      ::_exit(body());
    } catch (...) {
      ::_exit(2);
    }
  }
  if (pid < 0) return -1;
  int status = 0;
  pid_t waited = -1;
  do {
    waited = ::waitpid(pid, &status, 0);
  } while (waited < 0 && errno == EINTR);
  if (waited != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

void report_line(int fd, std::string_view line) {
  std::string text(line);
  text += '\n';
  if (::write(fd, text.data(), text.size()) !=
      static_cast<ssize_t>(text.size())) {
    ::_exit(3);
  }
}

std::string describe_wait_status(int status) {
  if (WIFSIGNALED(status)) {
    return "signal " + std::to_string(WTERMSIG(status));
  }
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  return "status " + std::to_string(status);
}

}  // namespace wfstore::testutil
