// RAII handles and typed array I/O over the HDF5 C API. Debian's libhdf5 is built without thread safety, so every
// HDF5 call from more than one thread must hold one mutex (WindowStoreReader does).
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rslicer::data::h5 {

// Owns one hid_t and closes it with the right H5*close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer, const std::string& what);  // throws when id < 0
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, -1)), closer_(o.closer_) {}
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  void reset();

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

template <typename T>
hid_t native_type();

Handle create_file(const std::string& path);
Handle open_file_readonly(const std::string& path);
Handle create_group(hid_t parent, const std::string& name);
Handle open_group(hid_t parent, const std::string& name);
bool exists(hid_t parent, const std::string& path);

// 1-D (or [n][cols] when cols > 0) chunked, shuffled, deflated dataset.
template <typename T>
void write_array(hid_t parent, const std::string& name, const std::vector<T>& values, std::size_t cols = 0);
void write_strings(hid_t parent, const std::string& name, const std::vector<std::string>& values);

template <typename T>
std::vector<T> read_array(hid_t parent, const std::string& name);
// Rows [begin, begin + count) of a 1-D dataset.
template <typename T>
std::vector<T> read_range(hid_t parent, const std::string& name, std::int64_t begin, std::int64_t count);
// The same from an open dataset (keeps HDF5's chunk cache warm across calls).
template <typename T>
std::vector<T> read_range(hid_t dataset, std::int64_t begin, std::int64_t count, const std::string& name);
// Opens a dataset with a chunk cache of `cache_bytes` (HDF5's default is 1 MiB).
Handle open_dataset(hid_t parent, const std::string& name, std::size_t cache_bytes = 4u << 20);
std::vector<std::string> read_strings(hid_t parent, const std::string& name);
std::int64_t dataset_length(hid_t parent, const std::string& name);
std::uint64_t storage_bytes(hid_t parent, const std::string& name);

void write_attr(hid_t object, const std::string& name, std::int64_t value);
void write_attr(hid_t object, const std::string& name, const std::string& value);
std::int64_t read_attr_int(hid_t object, const std::string& name);
std::string read_attr_string(hid_t object, const std::string& name);
bool has_attr(hid_t object, const std::string& name);

}  // namespace rslicer::data::h5
