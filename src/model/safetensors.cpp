#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace fs = std::filesystem;

namespace rslicer::model {

std::size_t dtype_size(DType d) {
  switch (d) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::I8: case DType::U8: case DType::BOOL: return 1;
  }
  return 0;
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F64: return "F64";
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
  }
  return "?";
}

namespace {
bool parse_dtype(const std::string& s, DType& out) {
  static const std::pair<const char*, DType> table[] = {
      {"F64", DType::F64}, {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16}, {"I64", DType::I64},
      {"I32", DType::I32}, {"I16", DType::I16}, {"I8", DType::I8},   {"U8", DType::U8},     {"BOOL", DType::BOOL}};
  for (const auto& [name, d] : table)
    if (s == name) {
      out = d;
      return true;
    }
  return false;
}
}  // namespace

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

MappedFile::MappedFile(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error("cannot open file", path.string(), "an existing readable file");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error("cannot stat file", path.string(), "a regular file");
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw Error("cannot map file", path.string(), "a mappable regular file");
    }
    data_ = static_cast<const std::uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<std::uint8_t*>(data_), size_);
}

SafetensorsFile::SafetensorsFile(const fs::path& path) : path_(path), map_(std::make_shared<MappedFile>(path)) {
  const std::string where = path.string();
  if (map_->size() < 8) throw Error("file shorter than the 8-byte header length", where, "a safetensors file");
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, map_->data(), 8);  // little-endian on every platform we build for
  if (header_len > kMaxSafetensorsHeader || header_len > map_->size() - 8)
    throw Error("header length " + std::to_string(header_len) + " is out of bounds", where,
                "at most " + std::to_string(kMaxSafetensorsHeader) + " bytes and within the file");
  const auto* header_begin = reinterpret_cast<const char*>(map_->data() + 8);
  nlohmann::json header = nlohmann::json::parse(header_begin, header_begin + header_len, nullptr, false);
  if (header.is_discarded() || !header.is_object()) throw Error("header is not a JSON object", where, "a safetensors header");
  const std::uint8_t* data = map_->data() + 8 + header_len;
  const std::size_t data_size = map_->size() - 8 - header_len;
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) throw Error("__metadata__ is not an object", where, "string to string metadata");
      for (const auto& [k, v] : entry.items())
        if (v.is_string()) metadata_[k] = v.get<std::string>();
      continue;
    }
    const std::string at = where + " tensor '" + name + "'";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
      throw Error("entry without dtype, shape or data_offsets", at, "{dtype, shape, data_offsets}");
    TensorView v;
    if (!entry["dtype"].is_string() || !parse_dtype(entry["dtype"].get<std::string>(), v.dtype))
      throw Error("unknown dtype " + entry["dtype"].dump(), at, "F64, F32, F16, BF16, I64, I32, I16, I8, U8 or BOOL");
    if (!entry["shape"].is_array()) throw Error("shape is not a list", at, "a list of sizes");
    std::size_t numel = 1;
    for (const auto& s : entry["shape"]) {
      if (!s.is_number_unsigned()) throw Error("shape has a negative or non-integer size", at, "sizes >= 0");
      auto dim = s.get<std::uint64_t>();
      if (dim > (1ULL << 40) || (dim && numel > (1ULL << 40) / dim)) throw Error("shape too large", at, "a sane shape");
      numel *= dim;
      v.shape.push_back(static_cast<std::int64_t>(dim));
    }
    const auto& off = entry["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw Error("data_offsets is not [begin, end]", at, "two byte offsets");
    const auto b = off[0].get<std::uint64_t>(), e = off[1].get<std::uint64_t>();
    if (b > e || e > data_size)
      throw Error("data_offsets [" + std::to_string(b) + ", " + std::to_string(e) + ") outside the data (" +
                      std::to_string(data_size) + " bytes)",
                  at, "offsets within the file");
    if (e - b != numel * dtype_size(v.dtype))
      throw Error("byte range of " + std::to_string(e - b) + " does not match shape and dtype (" +
                      std::to_string(numel * dtype_size(v.dtype)) + " bytes)",
                  at, "consistent dtype, shape and offsets");
    v.data = data + b;
    v.bytes = e - b;
    ranges.emplace_back(b, e);
    tensors_.emplace(name, v);
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      throw Error("tensors overlap in the data", where, "non-overlapping data_offsets");
}

const TensorView& SafetensorsFile::at(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error("no tensor '" + name + "'", path_.string(), "a tensor of that name");
  return it->second;
}

SafetensorsCollection::SafetensorsCollection(const fs::path& given) {
  std::vector<fs::path> files;
  if (fs::is_regular_file(given)) {
    files.push_back(given);
  } else if (fs::exists(given / "model.safetensors.index.json")) {
    std::ifstream in(given / "model.safetensors.index.json");
    auto index = nlohmann::json::parse(in, nullptr, false);
    if (index.is_discarded() || !index.contains("weight_map") || !index["weight_map"].is_object())
      throw Error("index without weight_map", (given / "model.safetensors.index.json").string(),
                  "{\"weight_map\": {tensor: file}}");
    std::vector<std::string> names;
    for (const auto& [tensor, file] : index["weight_map"].items()) {
      std::string f = file.get<std::string>();
      if (f.find('/') != std::string::npos || f.find("..") != std::string::npos)
        throw Error("shard name '" + f + "' leaves the directory", given.string(), "plain file names");
      if (std::find(names.begin(), names.end(), f) == names.end()) names.push_back(f);
    }
    for (const auto& f : names) files.push_back(given / f);
  } else if (fs::exists(given / "model.safetensors")) {
    files.push_back(given / "model.safetensors");
  } else {
    throw Error("no safetensors found", given.string(), "model.safetensors or model.safetensors.index.json");
  }
  for (const auto& f : files) {
    files_.push_back(std::make_unique<SafetensorsFile>(f));
    for (const auto& [name, view] : files_.back()->tensors())
      if (!tensors_.emplace(name, view).second)
        throw Error("tensor '" + name + "' appears in two shards", f.string(), "each tensor in one shard");
  }
}

void write_safetensors(const fs::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::size_t offset = 0;
  for (const auto& t : tensors) {
    std::size_t numel = 1;
    for (auto s : t.shape) numel *= static_cast<std::size_t>(s);
    if (numel * dtype_size(t.dtype) != t.bytes)
      throw Error("tensor '" + t.name + "' has " + std::to_string(t.bytes) + " bytes for its shape", path.string(),
                  "bytes = numel * dtype size");
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes}}};
    offset += t.bytes;
  }
  std::string text = header.dump();
  while ((text.size() + 8) % 8 != 0) text += ' ';  // data starts 8-byte aligned
  const std::uint64_t n = text.size();
  AtomicOutputFile out(path);
  out.write(&n, 8);
  out.write(text);
  for (const auto& t : tensors) out.write(t.data, t.bytes);
  out.commit();
}

}  // namespace rslicer::model
