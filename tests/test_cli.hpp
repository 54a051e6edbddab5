#pragma once
// Running the built `vkformer` command as a user does, for the CLI tests. Every run and every damaged model
// gets its own temporary directory, so tests can run in parallel (ctest -j).
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

namespace vkformer::testing {

namespace fs = std::filesystem;

// A new directory under the system's temporary directory, removed with its contents.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "vkformer-test-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code error;
    fs::remove_all(path_, error);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream file(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) lines.push_back(line);
  return lines;
}

struct CliRun {
  std::string arguments;        // after `vkformer`, already shell-quoted
  std::string input;            // written to a file given on stdin
  std::string environment;      // VAR=value ... for this run
  std::string stdin_redirect;   // replaces the input file when set, e.g. "< /tmp" or "<&-"
  std::string stdout_redirect;  // replaces the output file when set, e.g. "> /dev/full" or ">&-"
  int timeout_s = 120;          // a hang ends as exit code 124
};

struct CliResult {
  int exit_code = -1;  // 128 + N when killed by signal N, as a shell reports it
  std::vector<std::string> out, err;  // lines
};

// The test's environment (VKFORMER_VALIDATION=1) is inherited, so a validation message would show up as
// an extra stderr line.
inline CliResult run_cli(const CliRun& run) {
  const TempDir dir;
  std::ofstream(dir.path() / "in", std::ios::binary) << run.input;
  const auto in = run.stdin_redirect.empty() ? fmt::format("< '{}'", (dir.path() / "in").string()) : run.stdin_redirect;
  const auto out = run.stdout_redirect.empty() ? fmt::format("> '{}'", (dir.path() / "out").string()) : run.stdout_redirect;
  const std::string command = fmt::format("{} timeout -k 5 {} '{}' {} {} {} 2> '{}'", run.environment, run.timeout_s,
                                          VKFORMER_CLI, run.arguments, in, out, (dir.path() / "err").string());
  const int status = std::system(command.c_str());
  CliResult result;
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.exit_code = 128 + WTERMSIG(status);
  result.out = read_lines(dir.path() / "out");
  result.err = read_lines(dir.path() / "err");
  return result;
}

// The --model option of the tiny Marian test model.
inline std::string tiny_model() { return fmt::format("--model '{}/tiny_swish_shared'", VKFORMER_TEST_DATA); }

inline CliResult run_cli(const std::string& arguments, const std::string& input, const std::string& environment = "") {
  return run_cli({.arguments = arguments, .input = input, .environment = environment});
}

}  // namespace vkformer::testing
