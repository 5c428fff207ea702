// Test helpers: a temporary directory removed at the end of the test.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace rslicer::test {

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("rslicer_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// The shared/ folder beside the repository (real data), $RSLICER_SHARED_DATA when set, or "" when absent.
inline std::filesystem::path shared_data_dir() {
  if (const char* env = std::getenv("RSLICER_SHARED_DATA")) return env;
  std::filesystem::path p = std::filesystem::path(RSLICER_SOURCE_DIR) / ".." / "shared" / "data";
  return std::filesystem::exists(p) ? p : std::filesystem::path();
}

}  // namespace rslicer::test
