// safetensors files (https://github.com/huggingface/safetensors): an 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}}, then the data. The reader memory-maps the file and gives zero-copy
// views; the header is untrusted input: bounded size, valid JSON, known dtypes, shapes consistent with the byte
// ranges, ranges inside the data and not overlapping. Sharded checkpoints via model.safetensors.index.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace rslicer::model {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };
std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

struct TensorView {
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  const void* data = nullptr;
  std::size_t bytes = 0;
  std::int64_t numel() const;
};

// Read-only memory map of a file (RAII).
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

constexpr std::size_t kMaxSafetensorsHeader = 100 * 1024 * 1024;

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);
  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const TensorView& at(const std::string& name) const;  // throws Error naming the file and tensor
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::filesystem::path path_;
  std::shared_ptr<MappedFile> map_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Every tensor of a model directory: model.safetensors, or the shards named by model.safetensors.index.json.
class SafetensorsCollection {
 public:
  explicit SafetensorsCollection(const std::filesystem::path& dir_or_file);
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, TensorView> tensors_;
};

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  const void* data;
  std::size_t bytes;
};

// Writes a safetensors file atomically (temp + fsync + rename).
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace rslicer::model
