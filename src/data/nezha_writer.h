// Writes telemetry in the Nezha data set layout (see nezha_reader.h), so that simulated data goes through the
// same reader as real data. One date directory; fails for telemetry spanning more than one UTC day.
#pragma once

#include <filesystem>

#include "data/telemetry.h"

namespace rslicer::data {

// `fault_names[type]` is the name written as inject_type (e.g. simulator_fault_types() mapped by type id).
void write_nezha(const std::filesystem::path& dir, const Telemetry& telemetry);

}  // namespace rslicer::data
