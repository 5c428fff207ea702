#include "data/serializer_record.h"

#include <fmt/format.h>

namespace rslicer::data {

nlohmann::json serializer_record(const SerializerOptions& o) {
  return {{"show_time", o.show_time}, {"mask_event_params", o.mask_event_params}, {"level_z", o.level_z},
          {"caller_wait", o.caller_wait}, {"system_kpis", o.system_kpis}, {"sample_gaps", o.sample_gaps},
          {"metric_baseline", o.metric_baseline}};
}

std::vector<std::string> serializer_differences(const nlohmann::json& recorded, const SerializerOptions& options) {
  std::vector<std::string> out;
  if (!recorded.is_object()) return out;
  const nlohmann::json ours = serializer_record(options);  // named: items() of a temporary would dangle
  for (const auto& [key, here] : ours.items()) {
    if (!recorded.contains(key) || recorded[key] == here) continue;
    out.push_back(fmt::format("{}: {} in pre-training, {} here", key, recorded[key].dump(), here.dump()));
  }
  return out;
}

}  // namespace rslicer::data
