// Reduction operations shared by the MPI and NCCL communicators (kept free of torch headers).
#pragma once

namespace rslicer::dist {

enum class ReduceOp { sum, avg, max };

}  // namespace rslicer::dist
