// `wfstore <args>` run as a child process whose standard output a test reads
// line by line: the following subcommands (log --follow, consume, replicate)
// and their stop signals.

#pragma once

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace wfstore::testutil {

inline constexpr std::chrono::seconds kToolLineWait{20};

// Its standard error stays the test's. Thread-safety: one thread owns it.
class ToolProcess {
 public:
  explicit ToolProcess(const std::vector<std::string>& args) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    std::vector<std::string> argv_strings{WFSTORE_TOOL_PATH};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_strings) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      // Only async-signal-safe calls: this process may run threads.
      if (::dup2(fds[1], STDOUT_FILENO) < 0) ::_exit(126);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }
  ~ToolProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  ToolProcess(const ToolProcess&) = delete;
  ToolProcess& operator=(const ToolProcess&) = delete;

  // The next line printed, or nullopt at end of output or after `wait`
  // without one.
  std::optional<std::string> read_line(
      std::chrono::milliseconds wait = kToolLineWait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
      const std::size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      if (eof_) return std::nullopt;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return std::nullopt;
      char buf[4096];
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        eof_ = true;
      } else {
        buffer_.append(buf, static_cast<std::size_t>(n));
      }
    }
  }

  // The LSN of the next JSON line, or nullopt.
  std::optional<std::uint64_t> next_lsn() {
    const std::optional<std::string> line = read_line();
    if (!line) return std::nullopt;
    return nlohmann::json::parse(*line).at("lsn").get<std::uint64_t>();
  }

  void signal(int sig) { ::kill(pid_, sig); }

  // Whether the process catches `sig` (SigCgt in /proc/<pid>/status), waiting
  // up to `wait` for its handler: a stop signal sent before it is installed
  // ends a process still starting (as on a loaded machine), not the tool's way.
  // Before exec the child still shows this test's handlers, so it counts only
  // once it runs another executable; false at once when it has exited.
  bool wait_until_catching(int sig,
                           std::chrono::milliseconds wait = kToolLineWait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    const std::uint64_t bit = std::uint64_t{1} << (sig - 1);
    const std::string proc = "/proc/" + std::to_string(pid_);
    std::error_code error;
    const std::filesystem::path self =
        std::filesystem::read_symlink("/proc/self/exe", error);
    for (;;) {
      std::ifstream status(proc + "/status");
      std::string line;
      bool catching = false;
      while (std::getline(status, line)) {
        if (line.rfind("State:", 0) == 0) {
          const std::size_t at = line.find_first_not_of(" \t", 6);
          if (at != std::string::npos && (line[at] == 'Z' || line[at] == 'X')) {
            return false;  // exited (a zombie until wait())
          }
        }
        if (line.rfind("SigCgt:", 0) == 0) {
          catching = (std::stoull(line.substr(7), nullptr, 16) & bit) != 0;
          break;
        }
      }
      if (catching &&
          std::filesystem::read_symlink(proc + "/exe", error) != self) {
        return true;
      }
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
  }

  // Reaps the process; its exit code, or -1 when it did not exit (a signal
  // killed it, or it ran past 20 s).
  int wait() {
    int status = 0;
    for (int i = 0; i < 2000; ++i) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buffer_;
  bool eof_ = false;
};

}  // namespace wfstore::testutil
