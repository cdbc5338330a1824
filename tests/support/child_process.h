// Test helper: runs a program (usually the nagent binary) as a real child process with its
// own environment, capturing stdout and stderr to files, so tests can wait for it or kill
// it with SIGKILL mid-run.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

struct ChildResult {
  int exit_code = -1;   // -1 if killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
};

class ChildProcess {
 public:
  // env: added to (or overriding) the test's own environment.
  ChildProcess(std::vector<std::string> argv, std::map<std::string, std::string> env = {},
               std::string stdin_text = "");
  ~ChildProcess();  // kills the child if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void kill_hard();                       // SIGKILL
  ChildResult wait(double timeout_s = 120);  // kills and fails the wait if it takes longer

 private:
  pid_t pid_ = -1;
  std::string out_path_, err_path_;
  bool reaped_ = false;
};

// Runs to completion.
ChildResult run_child(std::vector<std::string> argv, std::map<std::string, std::string> env = {},
                      std::string stdin_text = "", double timeout_s = 120);
