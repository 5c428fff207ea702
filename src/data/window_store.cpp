#include "data/window_store.h"

#include <chrono>
#include <ctime>
#include <map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/fault_types.h"
#include "data/h5.h"
#include "data/time_parse.h"

namespace fs = std::filesystem;

namespace rslicer::data {

namespace {

template <typename T, typename Item, typename Field>
std::vector<T> column(const std::vector<Item>& items, Field field) {
  std::vector<T> out;
  out.reserve(items.size());
  for (const auto& item : items) out.push_back(static_cast<T>(field(item)));
  return out;
}

std::vector<std::int64_t> ranges(const std::vector<Window>& windows, std::array<std::int64_t, 2> Window::*member) {
  std::vector<std::int64_t> out;
  for (const auto& w : windows) {
    out.push_back((w.*member)[0]);
    out.push_back((w.*member)[1]);
  }
  return out;
}

void write_components(hid_t file, const std::vector<Component>& components) {
  h5::Handle group = h5::create_group(file, "components");
  h5::write_array(group.get(), "id", column<std::int32_t>(components, [](const Component& c) { return c.id; }));
  h5::write_array(group.get(), "kind",
                  column<std::int8_t>(components, [](const Component& c) { return static_cast<int>(c.kind); }));
  h5::write_strings(group.get(), "name", column<std::string>(components, [](const Component& c) { return c.name; }));
  h5::write_array(group.get(), "service",
                  column<std::int32_t>(components, [](const Component& c) { return c.service; }));
  h5::write_array(group.get(), "node", column<std::int32_t>(components, [](const Component& c) { return c.node; }));
}

std::string utc_now() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return format_utc(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
}

}  // namespace

void write_window_store(const fs::path& path, const Telemetry& t, const std::vector<Window>& windows,
                        const WindowingOptions& options) {
  const fs::path tmp = path.string() + ".tmp";
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  try {
    h5::Handle file = h5::create_file(tmp.string());
    hid_t f = file.get();
    h5::write_attr(f, "schema_version", kStoreSchemaVersion);
    h5::write_attr(f, "producer", std::string("rslicer 0.1.0"));
    h5::write_attr(f, "source_format", t.source_format);
    h5::write_attr(f, "system", t.system);
    h5::write_attr(f, "created_utc", utc_now());
    h5::write_attr(f, "window_length_ns", options.length_ns);
    h5::write_attr(f, "window_stride_ns", options.stride_ns);
    h5::write_attr(f, "t_begin_ns", t.begin_ns());
    h5::write_attr(f, "t_end_ns", t.end_ns());
    h5::write_attr(f, "labels_known", static_cast<std::int64_t>(t.labels_known));

    write_components(f, t.components);
    h5::write_strings(f, "metric_names", t.metric_names.names());
    h5::write_strings(f, "operations", t.operations.names());
    h5::write_strings(f, "log_templates", t.log_templates.names());
    h5::write_strings(f, "fault_types", canonical_fault_types());
    h5::write_strings(f, "regime_names", t.regime_names);

    {
      h5::Handle g = h5::create_group(f, "metrics");
      const auto& m = t.metrics;
      h5::write_array(g.get(), "time_ns", column<std::int64_t>(m, [](const MetricSample& x) { return x.time_ns; }));
      h5::write_array(g.get(), "component", column<std::int32_t>(m, [](const MetricSample& x) { return x.component; }));
      h5::write_array(g.get(), "metric", column<std::int32_t>(m, [](const MetricSample& x) { return x.metric; }));
      h5::write_array(g.get(), "value", column<float>(m, [](const MetricSample& x) { return x.value; }));
    }
    {
      h5::Handle g = h5::create_group(f, "spans");
      const auto& s = t.spans;
      h5::write_array(g.get(), "trace_id", column<std::uint64_t>(s, [](const Span& x) { return x.trace_id; }));
      h5::write_array(g.get(), "span_id", column<std::uint64_t>(s, [](const Span& x) { return x.span_id; }));
      h5::write_array(g.get(), "parent_id", column<std::uint64_t>(s, [](const Span& x) { return x.parent_id; }));
      h5::write_array(g.get(), "start_ns", column<std::int64_t>(s, [](const Span& x) { return x.start_ns; }));
      h5::write_array(g.get(), "duration_ns", column<std::int64_t>(s, [](const Span& x) { return x.duration_ns; }));
      h5::write_array(g.get(), "component", column<std::int32_t>(s, [](const Span& x) { return x.component; }));
      h5::write_array(g.get(), "operation", column<std::int32_t>(s, [](const Span& x) { return x.operation; }));
      h5::write_array(g.get(), "status", column<std::int16_t>(s, [](const Span& x) { return x.status; }));
    }
    {
      h5::Handle g = h5::create_group(f, "logs");
      const auto& l = t.logs;
      h5::write_array(g.get(), "time_ns", column<std::int64_t>(l, [](const LogRecord& x) { return x.time_ns; }));
      h5::write_array(g.get(), "component", column<std::int32_t>(l, [](const LogRecord& x) { return x.component; }));
      h5::write_array(g.get(), "level",
                      column<std::int8_t>(l, [](const LogRecord& x) { return static_cast<int>(x.level); }));
      h5::write_array(g.get(), "template", column<std::int32_t>(l, [](const LogRecord& x) { return x.template_id; }));
      // N+1 offsets: record k's parameters are params[params_begin[k] .. params_begin[k+1]).
      std::vector<std::int64_t> begins;
      std::vector<std::uint8_t> bytes;
      for (const auto& r : l) {
        begins.push_back(static_cast<std::int64_t>(bytes.size()));
        bytes.insert(bytes.end(), r.params.begin(), r.params.end());
      }
      begins.push_back(static_cast<std::int64_t>(bytes.size()));
      h5::write_array(g.get(), "params_begin", begins);
      h5::write_array(g.get(), "params", bytes);
    }
    {
      h5::Handle g = h5::create_group(f, "faults");
      const auto& x = t.faults;
      h5::write_array(g.get(), "begin_ns", column<std::int64_t>(x, [](const Fault& v) { return v.begin_ns; }));
      h5::write_array(g.get(), "end_ns", column<std::int64_t>(x, [](const Fault& v) { return v.end_ns; }));
      h5::write_array(g.get(), "type", column<std::int16_t>(x, [](const Fault& v) { return v.type; }));
      h5::write_array(g.get(), "root_cause", column<std::int32_t>(x, [](const Fault& v) { return v.root_cause; }));
      h5::write_array(g.get(), "level",
                      column<std::int8_t>(x, [](const Fault& v) { return static_cast<int>(v.level); }));
    }
    {
      h5::Handle g = h5::create_group(f, "windows");
      const auto& w = windows;
      h5::write_array(g.get(), "begin_ns", column<std::int64_t>(w, [](const Window& v) { return v.begin_ns; }));
      h5::write_array(g.get(), "end_ns", column<std::int64_t>(w, [](const Window& v) { return v.end_ns; }));
      h5::write_array(g.get(), "label", column<std::int8_t>(w, [](const Window& v) { return v.label; }));
      h5::write_array(g.get(), "fault", column<std::int32_t>(w, [](const Window& v) { return v.fault; }));
      h5::write_array(g.get(), "regime", column<std::int32_t>(w, [](const Window& v) { return v.regime; }));
      h5::write_array(g.get(), "metric_range", ranges(w, &Window::metric_range), 2);
      h5::write_array(g.get(), "span_range", ranges(w, &Window::span_range), 2);
      h5::write_array(g.get(), "log_range", ranges(w, &Window::log_range), 2);
      h5::write_array(g.get(), "modality_mask", column<std::uint8_t>(w, [](const Window& v) { return v.modality_mask; }));
    }
    if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) throw Error("cannot flush store", tmp.string(), "free disk space");
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw Error("cannot rename store into place (" + ec.message() + ")", path.string(),
                "a writable path that is not a directory");
  }
  fsync_directory(path.has_parent_path() ? path.parent_path() : fs::path("."));
}

struct WindowStoreReader::Impl {
  h5::Handle file;
  // Stream datasets kept open for the reader's lifetime, so each one's chunk cache persists between windows.
  std::map<std::string, h5::Handle> datasets;
  hid_t dataset(const std::string& path) {
    auto it = datasets.find(path);
    if (it == datasets.end()) it = datasets.emplace(path, h5::open_dataset(file.get(), path)).first;
    return it->second.get();
  }
};

WindowStoreReader::WindowStoreReader(const fs::path& path) : impl_(std::make_unique<Impl>()), path_(path) {
  if (!fs::exists(path)) throw Error("store not found", path.string(), "a window store written by rslicer ingest");
  if (H5Fis_hdf5(path.c_str()) <= 0)
    throw Error("not an HDF5 file", path.string(), "a window store written by rslicer ingest");
  impl_->file = h5::open_file_readonly(path.string());
  hid_t f = impl_->file.get();
  if (!h5::has_attr(f, "schema_version"))
    throw Error("HDF5 file without schema_version", path.string(), "a window store written by rslicer ingest");
  meta_.schema_version = h5::read_attr_int(f, "schema_version");
  if (meta_.schema_version != kStoreSchemaVersion)
    throw Error("store schema version " + std::to_string(meta_.schema_version) + " is not supported",
                path.string(),
                "version " + std::to_string(kStoreSchemaVersion) +
                    ": re-ingest the raw data with this rslicer (rslicer ingest ...), or convert the store");
  meta_.producer = h5::read_attr_string(f, "producer");
  meta_.source_format = h5::read_attr_string(f, "source_format");
  meta_.system = h5::read_attr_string(f, "system");
  meta_.created_utc = h5::read_attr_string(f, "created_utc");
  meta_.window_length_ns = h5::read_attr_int(f, "window_length_ns");
  meta_.window_stride_ns = h5::read_attr_int(f, "window_stride_ns");
  meta_.t_begin_ns = h5::read_attr_int(f, "t_begin_ns");
  meta_.t_end_ns = h5::read_attr_int(f, "t_end_ns");

  {
    h5::Handle g = h5::open_group(f, "components");
    auto ids = h5::read_array<std::int32_t>(g.get(), "id");
    auto kinds = h5::read_array<std::int8_t>(g.get(), "kind");
    auto names = h5::read_strings(g.get(), "name");
    auto services = h5::read_array<std::int32_t>(g.get(), "service");
    auto nodes = h5::read_array<std::int32_t>(g.get(), "node");
    for (std::size_t i = 0; i < ids.size(); ++i)
      components_.push_back({ids[i], static_cast<ComponentKind>(kinds.at(i)), names.at(i), services.at(i), nodes.at(i)});
  }
  metric_names_ = h5::read_strings(f, "metric_names");
  operations_ = h5::read_strings(f, "operations");
  log_templates_ = h5::read_strings(f, "log_templates");
  fault_types_ = h5::read_strings(f, "fault_types");
  regime_names_ = h5::read_strings(f, "regime_names");
  {
    h5::Handle g = h5::open_group(f, "faults");
    auto b = h5::read_array<std::int64_t>(g.get(), "begin_ns");
    auto e = h5::read_array<std::int64_t>(g.get(), "end_ns");
    auto type = h5::read_array<std::int16_t>(g.get(), "type");
    auto root = h5::read_array<std::int32_t>(g.get(), "root_cause");
    auto level = h5::read_array<std::int8_t>(g.get(), "level");
    for (std::size_t i = 0; i < b.size(); ++i)
      faults_.push_back({b[i], e.at(i), type.at(i), root.at(i), static_cast<ComponentKind>(level.at(i))});
  }
  {
    h5::Handle g = h5::open_group(f, "windows");
    auto b = h5::read_array<std::int64_t>(g.get(), "begin_ns");
    auto e = h5::read_array<std::int64_t>(g.get(), "end_ns");
    auto label = h5::read_array<std::int8_t>(g.get(), "label");
    auto fault = h5::read_array<std::int32_t>(g.get(), "fault");
    auto regime = h5::read_array<std::int32_t>(g.get(), "regime");
    auto mr = h5::read_array<std::int64_t>(g.get(), "metric_range");
    auto sr = h5::read_array<std::int64_t>(g.get(), "span_range");
    auto lr = h5::read_array<std::int64_t>(g.get(), "log_range");
    auto mask = h5::read_array<std::uint8_t>(g.get(), "modality_mask");
    const std::size_t n = b.size();
    if (e.size() != n || label.size() != n || mr.size() != 2 * n || sr.size() != 2 * n || lr.size() != 2 * n ||
        mask.size() != n)
      throw Error("window datasets have different lengths", path.string(), "a consistent store (re-ingest)");
    for (std::size_t i = 0; i < n; ++i) {
      Window w;
      w.begin_ns = b[i];
      w.end_ns = e[i];
      w.label = label[i];
      w.fault = fault.at(i);
      w.regime = regime.at(i);
      w.metric_range = {mr[2 * i], mr[2 * i + 1]};
      w.span_range = {sr[2 * i], sr[2 * i + 1]};
      w.log_range = {lr[2 * i], lr[2 * i + 1]};
      w.modality_mask = mask[i];
      windows_.push_back(w);
    }
  }
}

WindowStoreReader::~WindowStoreReader() = default;

std::int64_t WindowStoreReader::stream_length(const std::string& dataset) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return h5::dataset_length(impl_->file.get(), dataset);
}

std::uint64_t WindowStoreReader::stream_bytes(const std::string& group) const {
  std::lock_guard<std::mutex> lock(mutex_);
  h5::Handle g = h5::open_group(impl_->file.get(), group);
  std::uint64_t total = 0;
  H5G_info_t info;
  H5Gget_info(g.get(), &info);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    char name[256];
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
    total += h5::storage_bytes(g.get(), name);
  }
  return total;
}

namespace {
template <typename T>
std::vector<T> rows(WindowStoreReader::Impl& impl, const std::string& path, std::array<std::int64_t, 2> r,
                    std::int64_t extra = 0) {
  const std::int64_t n = r[1] - r[0];
  return n > 0 ? h5::read_range<T>(impl.dataset(path), r[0], n + extra, path) : std::vector<T>{};
}
}  // namespace

WindowData WindowStoreReader::read_ranges(std::array<std::int64_t, 2> m, std::array<std::int64_t, 2> s,
                                          std::array<std::int64_t, 2> l) const {
  Impl& impl = *impl_;
  WindowData out;
  {
    auto t = rows<std::int64_t>(impl, "metrics/time_ns", m);
    auto c = rows<std::int32_t>(impl, "metrics/component", m);
    auto k = rows<std::int32_t>(impl, "metrics/metric", m);
    auto v = rows<float>(impl, "metrics/value", m);
    for (std::size_t i = 0; i < t.size(); ++i) out.metrics.push_back({t[i], c[i], k[i], v[i]});
  }
  {
    auto tr = rows<std::uint64_t>(impl, "spans/trace_id", s);
    auto sp = rows<std::uint64_t>(impl, "spans/span_id", s);
    auto pa = rows<std::uint64_t>(impl, "spans/parent_id", s);
    auto st = rows<std::int64_t>(impl, "spans/start_ns", s);
    auto du = rows<std::int64_t>(impl, "spans/duration_ns", s);
    auto co = rows<std::int32_t>(impl, "spans/component", s);
    auto op = rows<std::int32_t>(impl, "spans/operation", s);
    auto ss = rows<std::int16_t>(impl, "spans/status", s);
    for (std::size_t i = 0; i < tr.size(); ++i) out.spans.push_back({tr[i], sp[i], pa[i], st[i], du[i], co[i], op[i], ss[i]});
  }
  {
    auto t = rows<std::int64_t>(impl, "logs/time_ns", l);
    auto c = rows<std::int32_t>(impl, "logs/component", l);
    auto lv = rows<std::int8_t>(impl, "logs/level", l);
    auto tp = rows<std::int32_t>(impl, "logs/template", l);
    auto pb = rows<std::int64_t>(impl, "logs/params_begin", l, 1);  // N+1 offsets
    std::vector<std::uint8_t> bytes;
    if (!pb.empty() && pb.back() > pb.front())
      bytes = h5::read_range<std::uint8_t>(impl.dataset("logs/params"), pb.front(), pb.back() - pb.front(), "logs/params");
    for (std::size_t i = 0; i < t.size(); ++i) {
      auto b0 = static_cast<std::size_t>(pb[i] - pb.front()), b1 = static_cast<std::size_t>(pb[i + 1] - pb.front());
      out.logs.push_back({t[i], c[i], static_cast<LogLevel>(lv[i]), tp[i],
                          std::string(bytes.begin() + static_cast<std::ptrdiff_t>(b0),
                                      bytes.begin() + static_cast<std::ptrdiff_t>(b1))});
    }
  }
  return out;
}

WindowData WindowStoreReader::read_window(std::size_t index) const {
  if (index >= windows_.size())
    throw Error("window " + std::to_string(index) + " out of range", path_.string(),
                "an index below " + std::to_string(windows_.size()));
  const Window& w = windows_[index];
  std::lock_guard<std::mutex> lock(mutex_);
  return read_ranges(w.metric_range, w.span_range, w.log_range);
}

Telemetry WindowStoreReader::read_all() const {
  Telemetry t;
  t.system = meta_.system;
  t.source_format = meta_.source_format;
  for (const auto& c : components_) t.add_component(c.name, c.kind, c.service, c.node);
  for (const auto& n : metric_names_) t.metric_names.intern(n);
  for (const auto& n : operations_) t.operations.intern(n);
  for (const auto& n : log_templates_) t.log_templates.intern(n);
  t.faults = faults_;
  t.regime_names = regime_names_;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    hid_t f = impl_->file.get();
    t.labels_known = h5::read_attr_int(f, "labels_known") != 0;
    WindowData all = read_ranges({0, h5::dataset_length(f, "metrics/time_ns")},
                                 {0, h5::dataset_length(f, "spans/start_ns")}, {0, h5::dataset_length(f, "logs/time_ns")});
    t.metrics = std::move(all.metrics);
    t.spans = std::move(all.spans);
    t.logs = std::move(all.logs);
  }
  return t;
}

}  // namespace rslicer::data
