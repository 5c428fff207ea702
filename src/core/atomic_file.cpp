#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace rslicer {

namespace {
std::string errno_text() { return std::strerror(errno); }
}  // namespace

AtomicOutputFile::AtomicOutputFile(std::filesystem::path path)
    : path_(std::move(path)), tmp_path_(path_.string() + ".tmp") {
  file_ = std::fopen(tmp_path_.c_str(), "wb");
  if (!file_)
    throw Error("cannot create file (" + errno_text() + ")", tmp_path_.string(), "a writable directory");
}

AtomicOutputFile::~AtomicOutputFile() {
  if (file_) std::fclose(file_);
  if (!committed_) {
    std::error_code ignored;
    std::filesystem::remove(tmp_path_, ignored);
  }
}

void AtomicOutputFile::write(std::string_view bytes) { write(bytes.data(), bytes.size()); }

void AtomicOutputFile::write(const void* data, std::size_t size) {
  if (size && std::fwrite(data, 1, size, file_) != size)
    throw Error("write failed (" + errno_text() + ")", tmp_path_.string(), "free disk space");
}

void AtomicOutputFile::commit() {
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0)
    throw Error("flush failed (" + errno_text() + ")", tmp_path_.string(), "free disk space");
  std::FILE* f = file_;
  file_ = nullptr;
  if (std::fclose(f) != 0) throw Error("close failed (" + errno_text() + ")", tmp_path_.string(), "free disk space");
  std::error_code ec;
  std::filesystem::rename(tmp_path_, path_, ec);
  if (ec) throw Error("rename failed (" + ec.message() + ")", path_.string(), "a writable directory");
  committed_ = true;
  fsync_directory(path_.has_parent_path() ? path_.parent_path() : std::filesystem::path("."));
}

void write_file_atomic(const std::filesystem::path& path, std::string_view content) {
  AtomicOutputFile out(path);
  out.write(content);
  out.commit();
}

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open file", path.string(), "an existing readable file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void fsync_directory(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // Best effort: some file systems do not allow opening directories.
  ::fsync(fd);
  ::close(fd);
}

}  // namespace rslicer
