#include "tuning/embeddings.h"

#include <fmt/format.h>

#include <set>
#include <tuple>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/h5.h"

namespace fs = std::filesystem;
namespace h5 = rslicer::data::h5;

namespace rslicer::tuning {

namespace {
void write_matrix(hid_t f, const std::string& name, const Matrix& m) {
  h5::write_array(f, name, m.data, m.cols ? m.cols : 1);
  h5::Handle ds(H5Dopen2(f, name.c_str(), H5P_DEFAULT), H5Dclose, "open " + name);
  h5::write_attr(ds.get(), "cols", static_cast<std::int64_t>(m.cols));
}
Matrix read_matrix(hid_t f, const std::string& name) {
  Matrix m;
  m.data = h5::read_array<float>(f, name);
  h5::Handle ds(H5Dopen2(f, name.c_str(), H5P_DEFAULT), H5Dclose, "open " + name);
  m.cols = static_cast<std::size_t>(h5::read_attr_int(ds.get(), "cols"));
  m.rows = m.cols ? m.data.size() / m.cols : 0;
  return m;
}
template <typename T>
void append_vec(std::vector<T>& a, const std::vector<T>& b) {
  a.insert(a.end(), b.begin(), b.end());
}
void append_matrix(Matrix& a, const Matrix& b) {
  if (a.cols == 0) a.cols = b.cols;
  if (b.rows && a.cols != b.cols) throw Error("embedding widths differ", "EmbeddingSet::append", "one model per file");
  append_vec(a.data, b.data);
  a.rows += b.rows;
}
}  // namespace

void EmbeddingSet::write(const fs::path& path) const {
  const fs::path tmp = path.string() + ".tmp";
  {
    auto file = h5::create_file(tmp.string());
    hid_t f = file.get();
    h5::write_attr(f, "kind", std::string("rslicer embeddings"));
    h5::write_strings(f, "stores", stores);
    h5::write_strings(f, "systems", systems);
    h5::write_array(f, "store", store);
    h5::write_array(f, "window", window);
    h5::write_array(f, "regime", regime);
    h5::write_array(f, "root_cause", root_cause);
    h5::write_array(f, "root_service", root_service);
    h5::write_array(f, "fault", fault);
    h5::write_array(f, "begin_ns", begin_ns);
    h5::write_array(f, "label", label);
    h5::write_array(f, "fault_type", fault_type);
    write_matrix(f, "z", z);
    write_matrix(f, "e_m", e_m);
    write_matrix(f, "e_t", e_t);
    write_matrix(f, "e_l", e_l);
    h5::write_array(f, "comp_row", comp_row);
    h5::write_array(f, "comp_id", comp_id);
    h5::write_array(f, "comp_service", comp_service);
    write_matrix(f, "comp", comp);
    if (comp_modalities.rows) write_matrix(f, "comp_modalities", comp_modalities);
    h5::write_array(f, "call_store", call_store);
    h5::write_array(f, "call_caller", call_caller);
    h5::write_array(f, "call_callee", call_callee);
    h5::write_array(f, "baseline_label_windows", baseline_label_windows);
  }
  fs::rename(tmp, path);
  fsync_directory(path.has_parent_path() ? path.parent_path() : fs::path("."));
}

EmbeddingSet EmbeddingSet::read(const fs::path& path) {
  if (!fs::exists(path)) throw Error("embeddings file not found", path.string(), "a file written by rslicer embed");
  auto file = h5::open_file_readonly(path.string());
  hid_t f = file.get();
  if (!h5::has_attr(f, "kind") || h5::read_attr_string(f, "kind") != "rslicer embeddings")
    throw Error("not an embeddings file", path.string(), "a file written by rslicer embed");
  EmbeddingSet e;
  e.stores = h5::read_strings(f, "stores");
  e.systems = h5::read_strings(f, "systems");
  e.store = h5::read_array<std::int32_t>(f, "store");
  e.window = h5::read_array<std::int32_t>(f, "window");
  e.regime = h5::read_array<std::int32_t>(f, "regime");
  e.root_cause = h5::read_array<std::int32_t>(f, "root_cause");
  e.root_service = h5::read_array<std::int32_t>(f, "root_service");
  e.fault = h5::read_array<std::int32_t>(f, "fault");
  e.begin_ns = h5::read_array<std::int64_t>(f, "begin_ns");
  e.label = h5::read_array<std::int8_t>(f, "label");
  e.fault_type = h5::read_array<std::int16_t>(f, "fault_type");
  e.z = read_matrix(f, "z");
  e.e_m = read_matrix(f, "e_m");
  e.e_t = read_matrix(f, "e_t");
  e.e_l = read_matrix(f, "e_l");
  e.comp_row = h5::read_array<std::int64_t>(f, "comp_row");
  e.comp_id = h5::read_array<std::int32_t>(f, "comp_id");
  e.comp_service = h5::read_array<std::int32_t>(f, "comp_service");
  e.comp = read_matrix(f, "comp");
  if (h5::exists(f, "comp_modalities")) e.comp_modalities = read_matrix(f, "comp_modalities");
  if (e.comp_modalities.rows && e.comp_modalities.rows != e.comp.rows)
    throw Error(fmt::format("comp_modalities has {} rows for {} components", e.comp_modalities.rows, e.comp.rows),
                path.string(), "one per component row");
  if (h5::exists(f, "call_store")) {
    e.call_store = h5::read_array<std::int32_t>(f, "call_store");
    e.call_caller = h5::read_array<std::int32_t>(f, "call_caller");
    e.call_callee = h5::read_array<std::int32_t>(f, "call_callee");
  }
  if (h5::exists(f, "baseline_label_windows"))
    e.baseline_label_windows = h5::read_array<std::int64_t>(f, "baseline_label_windows");
  if (!e.baseline_label_windows.empty() && e.baseline_label_windows.size() != e.stores.size())
    throw Error("baseline_label_windows has " + std::to_string(e.baseline_label_windows.size()) + " entries for " +
                    std::to_string(e.stores.size()) + " stores", path.string(), "one per store");
  if (e.call_caller.size() != e.call_store.size() || e.call_callee.size() != e.call_store.size())
    throw Error("call graph arrays differ in length", path.string(), "call_store, call_caller, call_callee alike");
  return e;
}

void EmbeddingSet::append(const EmbeddingSet& o) {
  const auto offset = static_cast<std::int64_t>(size());
  if (baseline_label_windows.empty()) baseline_label_windows = o.baseline_label_windows;  // per store, alike
  append_vec(store, o.store);
  append_vec(window, o.window);
  append_vec(regime, o.regime);
  append_vec(root_cause, o.root_cause);
  append_vec(root_service, o.root_service);
  append_vec(fault, o.fault);
  append_vec(begin_ns, o.begin_ns);
  append_vec(label, o.label);
  append_vec(fault_type, o.fault_type);
  append_matrix(z, o.z);
  append_matrix(e_m, o.e_m);
  append_matrix(e_t, o.e_t);
  append_matrix(e_l, o.e_l);
  for (auto r : o.comp_row) comp_row.push_back(r + offset);
  append_vec(comp_id, o.comp_id);
  append_vec(comp_service, o.comp_service);
  append_matrix(comp, o.comp);
  append_matrix(comp_modalities, o.comp_modalities);
  std::set<std::tuple<std::int32_t, std::int32_t, std::int32_t>> known;
  for (std::size_t i = 0; i < call_store.size(); ++i) known.insert({call_store[i], call_caller[i], call_callee[i]});
  for (std::size_t i = 0; i < o.call_store.size(); ++i)
    if (known.insert({o.call_store[i], o.call_caller[i], o.call_callee[i]}).second) {
      call_store.push_back(o.call_store[i]);
      call_caller.push_back(o.call_caller[i]);
      call_callee.push_back(o.call_callee[i]);
    }
}

}  // namespace rslicer::tuning
