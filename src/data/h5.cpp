#include "data/h5.h"

#include <algorithm>

#include "core/error.h"

namespace rslicer::data::h5 {

Handle::Handle(hid_t id, Closer closer, const std::string& what) : id_(id), closer_(closer) {
  if (id < 0) throw Error("HDF5: " + what + " failed", "HDF5", "a valid HDF5 file");
}

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = std::exchange(o.id_, -1);
    closer_ = o.closer_;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && closer_) closer_(id_);
  id_ = -1;
}

template <> hid_t native_type<std::int8_t>() { return H5T_NATIVE_INT8; }
template <> hid_t native_type<std::uint8_t>() { return H5T_NATIVE_UINT8; }
template <> hid_t native_type<std::int16_t>() { return H5T_NATIVE_INT16; }
template <> hid_t native_type<std::int32_t>() { return H5T_NATIVE_INT32; }
template <> hid_t native_type<std::int64_t>() { return H5T_NATIVE_INT64; }
template <> hid_t native_type<std::uint64_t>() { return H5T_NATIVE_UINT64; }
template <> hid_t native_type<float>() { return H5T_NATIVE_FLOAT; }
template <> hid_t native_type<double>() { return H5T_NATIVE_DOUBLE; }

namespace {
// Silences HDF5's own stack printing for the lifetime of the program's calls; our errors say it in one line.
struct QuietHdf5 {
  QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
const QuietHdf5 quiet_hdf5;

Handle string_type() {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose, "string type");
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

Handle chunked_deflate(hsize_t rows, hsize_t cols, std::size_t element_size) {
  Handle plist(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "dataset properties");
  if (rows == 0) return plist;
  // About 256 KiB chunks: small enough that reading one window's rows decompresses little, large enough to compress.
  hsize_t chunk_rows = std::max<hsize_t>(1, (256u << 10) / (element_size * std::max<hsize_t>(cols, 1)));
  chunk_rows = std::min(chunk_rows, rows);
  hsize_t dims[2] = {chunk_rows, cols};
  H5Pset_chunk(plist.get(), cols ? 2 : 1, dims);
  H5Pset_shuffle(plist.get());
  H5Pset_deflate(plist.get(), 4);
  return plist;
}

[[noreturn]] void read_failed(const std::string& name) {
  throw Error("cannot read dataset '" + name + "'", "HDF5 store", "a store written by rslicer ingest");
}
}  // namespace

Handle create_file(const std::string& path) {
  return Handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose, "create " + path);
}

Handle open_file_readonly(const std::string& path) {
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) throw Error("cannot open HDF5 file", path, "an HDF5 window store (rslicer ingest writes one)");
  return Handle(id, H5Fclose, "open " + path);
}

Handle create_group(hid_t parent, const std::string& name) {
  return Handle(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                "create group " + name);
}

Handle open_group(hid_t parent, const std::string& name) {
  hid_t id = H5Gopen2(parent, name.c_str(), H5P_DEFAULT);
  if (id < 0) throw Error("missing group '" + name + "'", "HDF5 store", "a store of schema version 1");
  return Handle(id, H5Gclose, "open group " + name);
}

bool exists(hid_t parent, const std::string& path) { return H5Lexists(parent, path.c_str(), H5P_DEFAULT) > 0; }

template <typename T>
void write_array(hid_t parent, const std::string& name, const std::vector<T>& values, std::size_t cols) {
  hsize_t rows = cols ? values.size() / cols : values.size();
  hsize_t dims[2] = {rows, cols};
  Handle space(H5Screate_simple(cols ? 2 : 1, dims, nullptr), H5Sclose, "dataspace");
  Handle plist = chunked_deflate(rows, cols, sizeof(T));
  Handle ds(H5Dcreate2(parent, name.c_str(), native_type<T>(), space.get(), H5P_DEFAULT, plist.get(), H5P_DEFAULT),
            H5Dclose, "create dataset " + name);
  if (!values.empty() && H5Dwrite(ds.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
    throw Error("cannot write dataset '" + name + "'", "HDF5 store", "free disk space");
}

void write_strings(hid_t parent, const std::string& name, const std::vector<std::string>& values) {
  std::vector<const char*> pointers;
  for (const auto& v : values) pointers.push_back(v.c_str());
  hsize_t dims[1] = {values.size()};
  Handle space(H5Screate_simple(1, dims, nullptr), H5Sclose, "dataspace");
  Handle type = string_type();
  Handle ds(H5Dcreate2(parent, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            H5Dclose, "create dataset " + name);
  if (!values.empty() && H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()) < 0)
    throw Error("cannot write dataset '" + name + "'", "HDF5 store", "free disk space");
}

template <typename T>
std::vector<T> read_array(hid_t parent, const std::string& name) {
  if (!exists(parent, name)) read_failed(name);
  Handle ds(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), H5Dclose, "open dataset " + name);
  Handle space(H5Dget_space(ds.get()), H5Sclose, "dataspace");
  hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0) read_failed(name);
  std::vector<T> out(static_cast<std::size_t>(n));
  if (n > 0 && H5Dread(ds.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0) read_failed(name);
  return out;
}

template <typename T>
std::vector<T> read_range(hid_t parent, const std::string& name, std::int64_t begin, std::int64_t count) {
  if (count <= 0) return {};
  Handle ds(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), H5Dclose, "open dataset " + name);
  return read_range<T>(ds.get(), begin, count, name);
}

template <typename T>
std::vector<T> read_range(hid_t dataset, std::int64_t begin, std::int64_t count, const std::string& name) {
  std::vector<T> out(static_cast<std::size_t>(std::max<std::int64_t>(count, 0)));
  if (count <= 0) return out;
  Handle file_space(H5Dget_space(dataset), H5Sclose, "dataspace");
  hsize_t start[1] = {static_cast<hsize_t>(begin)}, n[1] = {static_cast<hsize_t>(count)};
  hsize_t total = static_cast<hsize_t>(H5Sget_simple_extent_npoints(file_space.get()));
  if (begin < 0 || start[0] + n[0] > total)
    throw Error("range [" + std::to_string(begin) + ", " + std::to_string(begin + count) + ") is past the end of '" +
                    name + "'",
                "HDF5 store", "ranges within the dataset (a corrupt window index?)");
  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, n, nullptr);
  Handle mem_space(H5Screate_simple(1, n, nullptr), H5Sclose, "dataspace");
  if (H5Dread(dataset, native_type<T>(), mem_space.get(), file_space.get(), H5P_DEFAULT, out.data()) < 0)
    read_failed(name);
  return out;
}

Handle open_dataset(hid_t parent, const std::string& name, std::size_t cache_bytes) {
  if (!exists(parent, name)) read_failed(name);
  Handle access(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose, "dataset access properties");
  H5Pset_chunk_cache(access.get(), 521, cache_bytes, 0.75);
  return Handle(H5Dopen2(parent, name.c_str(), access.get()), H5Dclose, "open dataset " + name);
}

std::vector<std::string> read_strings(hid_t parent, const std::string& name) {
  if (!exists(parent, name)) read_failed(name);
  Handle ds(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), H5Dclose, "open dataset " + name);
  Handle space(H5Dget_space(ds.get()), H5Sclose, "dataspace");
  hssize_t n = H5Sget_simple_extent_npoints(space.get());
  std::vector<char*> pointers(static_cast<std::size_t>(std::max<hssize_t>(n, 0)), nullptr);
  Handle type = string_type();
  if (n > 0 && H5Dread(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()) < 0) read_failed(name);
  std::vector<std::string> out;
  for (char* p : pointers) out.emplace_back(p ? p : "");
  if (n > 0) H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, pointers.data());
  return out;
}

std::int64_t dataset_length(hid_t parent, const std::string& name) {
  if (!exists(parent, name)) return 0;
  Handle ds(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), H5Dclose, "open dataset " + name);
  Handle space(H5Dget_space(ds.get()), H5Sclose, "dataspace");
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  return static_cast<std::int64_t>(dims[0]);
}

std::uint64_t storage_bytes(hid_t parent, const std::string& name) {
  if (!exists(parent, name)) return 0;
  Handle ds(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), H5Dclose, "open dataset " + name);
  return H5Dget_storage_size(ds.get());
}

void write_attr(hid_t object, const std::string& name, std::int64_t value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose, "dataspace");
  Handle attr(H5Acreate2(object, name.c_str(), H5T_NATIVE_INT64, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
              "create attribute " + name);
  H5Awrite(attr.get(), H5T_NATIVE_INT64, &value);
}

void write_attr(hid_t object, const std::string& name, const std::string& value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose, "dataspace");
  Handle type = string_type();
  Handle attr(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
              "create attribute " + name);
  const char* p = value.c_str();
  H5Awrite(attr.get(), type.get(), &p);
}

bool has_attr(hid_t object, const std::string& name) { return H5Aexists(object, name.c_str()) > 0; }

std::int64_t read_attr_int(hid_t object, const std::string& name) {
  if (!has_attr(object, name)) throw Error("missing attribute '" + name + "'", "HDF5 store", "a window store");
  Handle attr(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose, "open attribute " + name);
  std::int64_t v = 0;
  if (H5Aread(attr.get(), H5T_NATIVE_INT64, &v) < 0)
    throw Error("attribute '" + name + "' is not an integer", "HDF5 store", "an integer");
  return v;
}

std::string read_attr_string(hid_t object, const std::string& name) {
  if (!has_attr(object, name)) throw Error("missing attribute '" + name + "'", "HDF5 store", "a window store");
  Handle attr(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose, "open attribute " + name);
  Handle type = string_type();
  char* p = nullptr;
  if (H5Aread(attr.get(), type.get(), &p) < 0)
    throw Error("attribute '" + name + "' is not a string", "HDF5 store", "a string");
  std::string out = p ? p : "";
  H5free_memory(p);
  return out;
}

#define RSLICER_H5_INSTANTIATE(T)                                                                   \
  template void write_array<T>(hid_t, const std::string&, const std::vector<T>&, std::size_t);      \
  template std::vector<T> read_array<T>(hid_t, const std::string&);                                 \
  template std::vector<T> read_range<T>(hid_t, const std::string&, std::int64_t, std::int64_t); \
  template std::vector<T> read_range<T>(hid_t, std::int64_t, std::int64_t, const std::string&);
RSLICER_H5_INSTANTIATE(std::int8_t)
RSLICER_H5_INSTANTIATE(std::uint8_t)
RSLICER_H5_INSTANTIATE(std::int16_t)
RSLICER_H5_INSTANTIATE(std::int32_t)
RSLICER_H5_INSTANTIATE(std::int64_t)
RSLICER_H5_INSTANTIATE(std::uint64_t)
RSLICER_H5_INSTANTIATE(float)
RSLICER_H5_INSTANTIATE(double)
#undef RSLICER_H5_INSTANTIATE

}  // namespace rslicer::data::h5
