// Writing files so that readers never see half of one: write `<path>.tmp`, fsync, rename over `<path>`.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

namespace rslicer {

// An output file that appears at `path` only when commit() succeeds; otherwise the temporary is removed.
class AtomicOutputFile {
 public:
  explicit AtomicOutputFile(std::filesystem::path path);
  ~AtomicOutputFile();
  AtomicOutputFile(const AtomicOutputFile&) = delete;
  AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;

  void write(std::string_view bytes);
  void write(const void* data, std::size_t size);
  // Flushes, fsyncs and renames the temporary over the final path.
  void commit();

  const std::filesystem::path& temporary_path() const { return tmp_path_; }

 private:
  std::filesystem::path path_, tmp_path_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

void write_file_atomic(const std::filesystem::path& path, std::string_view content);
std::string read_text_file(const std::filesystem::path& path);
// fsyncs a directory so that a rename inside it is durable.
void fsync_directory(const std::filesystem::path& dir);

}  // namespace rslicer
