#include "core/error.h"

namespace rslicer {
namespace {
std::string join_parts(const std::string& what, const std::string& where, const std::string& expected) {
  std::string out = what;
  for (const std::string* part : {&where, &expected}) {
    if (part->empty()) continue;
    if (!out.empty()) out += ", ";
    out += *part;
  }
  return out;
}
}  // namespace

Error::Error(std::string what, std::string where, std::string expected, ExitCode code)
    : std::runtime_error(join_parts(what, where, expected)),
      what_(std::move(what)),
      where_(std::move(where)),
      expected_(std::move(expected)),
      code_(code) {}

std::string Error::one_line() const {
  std::string line = "error: " + std::string(std::runtime_error::what());
  // One line, whatever the parts contained.
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  return line;
}

}  // namespace rslicer
