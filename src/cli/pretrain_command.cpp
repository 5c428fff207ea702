#include "cli/pretrain_command.h"

#include "train/pretrain.h"

namespace rslicer::cli {

void run_pretrain(const JobContext& ctx) { train::run_pretraining(ctx.cfg, ctx.run_dir, ctx.mpi); }

}  // namespace rslicer::cli
