// all_gather_with_grad (OpenCLIP's gather_with_grad, torch.distributed.nn.all_gather; docs/design.md §5):
// forward gathers every rank's [B_local, d] into [W * B_local, d] in rank order; backward reduce-scatters the
// gradient of the gathered tensor with SUM and returns this rank's [B_local, d] slice. With a loss over local rows
// against global columns on each rank and gradients averaged over ranks, this equals the single-process gradient
// of the loss on the global batch.
//
// The overloads with `rows_per_rank` take uneven parts (rank r contributes rows_per_rank[r] rows; every rank passes
// the same counts): the batch split by the ranks' pace (train/batch_balancer.h). An empty `rows_per_rank` is the
// even split.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "dist/communicator.h"

namespace rslicer::dist {

torch::Tensor all_gather_with_grad(const torch::Tensor& local, Communicator& comm);
torch::Tensor all_gather_with_grad(const torch::Tensor& local, Communicator& comm, const std::vector<std::int64_t>& rows_per_rank);

// Gather without gradient (labels, times): [n, ...] -> [W * n, ...] (or [sum(rows_per_rank), ...]).
torch::Tensor all_gather(const torch::Tensor& local, Communicator& comm);
torch::Tensor all_gather(const torch::Tensor& local, Communicator& comm, const std::vector<std::int64_t>& rows_per_rank);

}  // namespace rslicer::dist
