// What `rslicer inspect` shows of a store: windows, time span, components, labels, fault types, modality
// coverage and a per-modality size breakdown, as JSON (rendered as text by the CLI).
#pragma once

#include <nlohmann/json.hpp>

#include "data/window_store.h"

namespace rslicer::data {

nlohmann::json summarize_store(const WindowStoreReader& store);
std::string render_summary(const nlohmann::json& summary);

}  // namespace rslicer::data
