// `rslicer pretrain`: see train/pretrain.h.
#pragma once

#include "cli/command.h"

namespace rslicer::cli {

void run_pretrain(const JobContext& ctx);

}  // namespace rslicer::cli
