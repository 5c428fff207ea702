// Helpers for the libFuzzer targets: the input as a file in a private temporary directory (the parsers under test
// read files), and the rule that a parser may reject input only with rslicer::Error (one clear line), never crash.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>
#include <algorithm>

#include "../test_util.h"

namespace rslicer::fuzz {

// The process's scratch directory (test_util.h's TempDir), removed when the process exits normally (libFuzzer's
// end of run calls exit()); after a crash it stays, beside the reproducer.
inline std::filesystem::path scratch_dir() {
  static const test::TempDir dir;
  return dir.path();
}

inline std::filesystem::path write_input(const std::string& name, const std::uint8_t* data, std::size_t size) {
  const auto path = scratch_dir() / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

}  // namespace rslicer::fuzz

namespace rslicer::fuzz {

// Splits the input at each "\n--8<--\n" into at most `n` parts (missing parts are empty): one fuzz input drives a
// reader that reads several files.
inline std::vector<std::string> split_parts(const std::uint8_t* data, std::size_t size, std::size_t n) {
  const std::string text(reinterpret_cast<const char*>(data), size), cut = "\n--8<--\n";
  std::vector<std::string> parts;
  std::size_t begin = 0;
  while (parts.size() + 1 < n) {
    const auto at = text.find(cut, begin);
    if (at == std::string::npos) break;
    parts.push_back(text.substr(begin, at - begin));
    begin = at + cut.size();
  }
  parts.push_back(text.substr(std::min(begin, text.size())));
  parts.resize(n);
  return parts;
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

}  // namespace rslicer::fuzz
