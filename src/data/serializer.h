// Window -> text per modality, the way the model reads it (deterministic):
//   metrics: per component and KPI, mean/max/last and the deviation from the store's baseline (z), the most
//            deviating series first;
//   traces:  per caller -> callee service edge, calls, latency p50/p95, error rate; slowest and erroring first;
//   logs:    template counts, warnings and errors first, with their parameters.
// Lines are added in order while the token budget allows (counted with the tokenizer, exactly). A per-component
// variant restricts every modality to one component, for failure localization.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/window_store.h"

namespace rslicer::data {

class Tokenizer;

// Mean and standard deviation per (component, metric), from windows labelled normal (or unknown).
struct MetricBaseline {
  std::unordered_map<std::uint64_t, std::pair<double, double>> stats;  // key: component << 32 | metric
  static MetricBaseline from_store(const WindowStoreReader& store, std::size_t max_windows = 200);
  std::pair<double, double> of(std::int32_t component, std::int32_t metric) const;
};

struct SerializerOptions {
  std::size_t max_tokens = 512;  // per modality text, <|endoftext|> included
};

struct ModalityTexts {
  std::string metrics, traces, logs;
};

class WindowSerializer {
 public:
  WindowSerializer(const WindowStoreReader& store, const Tokenizer& tokenizer, SerializerOptions options);

  ModalityTexts serialize(const Window& window, const WindowData& data) const;
  // The same, restricted to one component (a pod: its own series, its edges as caller or callee, its logs).
  ModalityTexts serialize_component(const Window& window, const WindowData& data, std::int32_t component) const;

 private:
  const WindowStoreReader& store_;
  const Tokenizer& tokenizer_;
  SerializerOptions options_;
  MetricBaseline baseline_;
  std::vector<std::string> display_names_;  // a pod shows as its service (+ "-<suffix>" when it has replicas)

  ModalityTexts render(const Window& window, const WindowData& data, std::int32_t only_component) const;
  std::string fit(const std::string& header, const std::vector<std::string>& lines) const;
};

}  // namespace rslicer::data
