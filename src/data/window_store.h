// The versioned HDF5 window store (docs/design.md §3, schema version 1): one file per source, streams stored once sorted
// by time, windows as index ranges into them. Written to <out>.tmp and renamed. The reader refuses any other
// schema version and says what to do.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "data/telemetry.h"
#include "data/windowing.h"

namespace rslicer::data {

constexpr std::int64_t kStoreSchemaVersion = 1;

struct StoreMeta {
  std::int64_t schema_version = kStoreSchemaVersion;
  std::string producer, source_format, system, created_utc;
  std::int64_t window_length_ns = 0, window_stride_ns = 0, t_begin_ns = 0, t_end_ns = 0;
};

// Writes `telemetry` (sorted by time) and its `windows` to `path` atomically.
void write_window_store(const std::filesystem::path& path, const Telemetry& telemetry,
                        const std::vector<Window>& windows, const WindowingOptions& options);

// The events of one window.
struct WindowData {
  std::vector<MetricSample> metrics;
  std::vector<Span> spans;
  std::vector<LogRecord> logs;
};

class WindowStoreReader {
 public:
  explicit WindowStoreReader(const std::filesystem::path& path);
  ~WindowStoreReader();
  WindowStoreReader(const WindowStoreReader&) = delete;
  WindowStoreReader& operator=(const WindowStoreReader&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const StoreMeta& meta() const { return meta_; }
  const std::vector<Component>& components() const { return components_; }
  const std::vector<std::string>& metric_names() const { return metric_names_; }
  const std::vector<std::string>& operations() const { return operations_; }
  const std::vector<std::string>& log_templates() const { return log_templates_; }
  const std::vector<std::string>& fault_types() const { return fault_types_; }
  const std::vector<std::string>& regime_names() const { return regime_names_; }
  const std::vector<Fault>& faults() const { return faults_; }
  const std::vector<Window>& windows() const { return windows_; }
  std::int64_t stream_length(const std::string& dataset) const;  // e.g. "metrics/time_ns"
  std::uint64_t stream_bytes(const std::string& group) const;     // stored bytes of a group's datasets

  // Reads one window's events (thread-safe: HDF5 calls are serialised by a mutex).
  WindowData read_window(std::size_t index) const;
  // Every stream in full (for ingest tests and small stores).
  Telemetry read_all() const;

  struct Impl;

 private:
  WindowData read_ranges(std::array<std::int64_t, 2> metrics, std::array<std::int64_t, 2> spans,
                         std::array<std::int64_t, 2> logs) const;
  std::unique_ptr<Impl> impl_;
  std::filesystem::path path_;
  StoreMeta meta_;
  std::vector<Component> components_;
  std::vector<std::string> metric_names_, operations_, log_templates_, fault_types_, regime_names_;
  std::vector<Fault> faults_;
  std::vector<Window> windows_;
  mutable std::mutex mutex_;
};

}  // namespace rslicer::data
