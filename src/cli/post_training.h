// The post-training commands: embed (model over window stores -> embeddings file), cluster (runtime states),
// tune (state-conditioned task models), evaluate (report.md/report.json/plots, trained beside baseline).
#pragma once

#include "cli/command.h"
#include "tuning/split.h"

namespace rslicer::cli {

void run_embed(const JobContext& ctx);
void run_cluster(const JobContext& ctx);
void run_tune(const JobContext& ctx);
void run_evaluate(const JobContext& ctx);

}  // namespace rslicer::cli
