// Errors that carry what went wrong, where, and what was expected. Only src/cli turns them into one line
// (`error: <what>, <where>, <expected>`) and an exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace rslicer {

enum class ExitCode : int { ok = 0, runtime = 1, usage = 2 };

class Error : public std::runtime_error {
 public:
  Error(std::string what, std::string where, std::string expected, ExitCode code = ExitCode::runtime);

  const std::string& what_part() const { return what_; }
  const std::string& where() const { return where_; }
  const std::string& expected() const { return expected_; }
  ExitCode exit_code() const { return code_; }
  // "error: <what>, <where>, <expected>" (parts that are empty are left out).
  std::string one_line() const;

 private:
  std::string what_, where_, expected_;
  ExitCode code_;
};

// A bad configuration or command line: exit code 2.
class ConfigError : public Error {
 public:
  ConfigError(std::string what, std::string where, std::string expected)
      : Error(std::move(what), std::move(where), std::move(expected), ExitCode::usage) {}
};

}  // namespace rslicer
