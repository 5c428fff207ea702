// The canonical telemetry model every reader produces and the window store holds (docs/design.md §3): components with
// their pod -> service -> node hierarchy, metric samples, spans, log records (templates + parameters) and faults.
// Time is int64 nanoseconds since the Unix epoch, UTC.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace rslicer::data {

enum class ComponentKind : std::int8_t { pod = 0, service = 1, node = 2 };

struct Component {
  std::int32_t id = 0;
  ComponentKind kind = ComponentKind::pod;
  std::string name;
  std::int32_t service = -1;  // component id of the pod's service (-1 if none)
  std::int32_t node = -1;     // component id of the pod's node (-1 if unknown)
};

struct MetricSample {
  std::int64_t time_ns;
  std::int32_t component;
  std::int32_t metric;
  float value;
};

struct Span {
  std::uint64_t trace_id, span_id, parent_id;  // parent 0 for a root span
  std::int64_t start_ns, duration_ns;
  std::int32_t component, operation;
  std::int16_t status;  // 0 ok, otherwise an error (HTTP/gRPC code or 1)
};

enum class LogLevel : std::int8_t { unknown = 0, debug = 1, info = 2, warn = 3, error = 4 };

struct LogRecord {
  std::int64_t time_ns;
  std::int32_t component;
  LogLevel level;
  std::int32_t template_id;
  std::string params;  // the template's parameters, '\x1f' separated
};

struct Fault {
  std::int64_t begin_ns, end_ns;  // end = inject time + the configured fault duration (or the label's end)
  std::int16_t type;              // index into the canonical fault types (fault_types.h)
  std::int32_t root_cause;        // component id
  ComponentKind level;
};

// Names interned to dense ids, in first-seen order.
class NameTable {
 public:
  std::int32_t intern(const std::string& name);
  std::int32_t find(const std::string& name) const;  // -1 when absent
  const std::vector<std::string>& names() const { return names_; }
  std::size_t size() const { return names_.size(); }

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::string, std::int32_t> ids_;
};

struct Telemetry {
  std::string system;         // "train_ticket", "online_boutique", ...
  std::string source_format;  // "nezha", "aiops2022", "otlp", "simulated"
  std::vector<Component> components;
  NameTable metric_names, operations, log_templates;
  std::vector<MetricSample> metrics;
  std::vector<Span> spans;
  std::vector<LogRecord> logs;
  std::vector<Fault> faults;
  bool labels_known = false;  // false: windows are labelled -1 (unknown) rather than normal
  // Ground-truth workload regime per time range (simulator only): regime id per [begin, end).
  struct Regime {
    std::int64_t begin_ns, end_ns;
    std::int32_t regime;
  };
  std::vector<Regime> regimes;
  std::vector<std::string> regime_names;

  // Component ids by name; pods register their service (derived from the name) and node.
  std::int32_t component_id(const std::string& name) const;  // -1 when absent
  std::int32_t add_component(const std::string& name, ComponentKind kind, std::int32_t service = -1,
                             std::int32_t node = -1);
  // A pod named like "ts-order-service-6f94c49ccd-t4k6c" with its service and node created as needed.
  std::int32_t add_pod(const std::string& pod_name, const std::string& node_name = "");

  // Sorts every stream by time (stable), as the store requires; returns how many records were out of order
  // (a record earlier than the one before it) so readers can report unsorted input.
  std::size_t sort_by_time();
  std::int64_t begin_ns() const;
  std::int64_t end_ns() const;

 private:
  std::unordered_map<std::string, std::int32_t> component_ids_;
};

// "ts-order-service-6f94c49ccd-t4k6c" -> "ts-order-service"; "adservice-0" -> "adservice";
// "node-6.adservice2-0" -> "adservice". Kubernetes names: <deployment>-<replicaset hash>-<pod hash> or
// <statefulset>-<ordinal>.
std::string service_of_pod(const std::string& pod_name);

}  // namespace rslicer::data
