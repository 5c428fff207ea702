// The subcommands that run on a composed configuration (one primary config each in configs/).
#pragma once

#include <vector>

#include "cli/command.h"

namespace rslicer::cli {

std::vector<ConfiguredCommand> configured_commands();

}  // namespace rslicer::cli
