#include "train/sparse_rows.h"

namespace rslicer::train {

SparseRows coalesce_rows(const torch::Tensor& sparse_grad) {
  const auto g = sparse_grad.coalesce();  // sorted unique rows, duplicates summed
  return {g.indices().select(0, 0).contiguous(), g.values().contiguous()};
}

SparseRows average_rows_over_ranks(const SparseRows& local, dist::Communicator& comm) {
  const int world = comm.world_size();
  const std::int64_t width = local.values.size(1);
  if (world == 1) return local;
  // Ranks touch different numbers of rows: gather the counts, then everyone's rows padded to the largest count
  // (padding rows are -1 and dropped).
  torch::Tensor count = torch::tensor({local.rows.size(0)}, torch::kInt64);
  torch::Tensor counts = torch::empty({world}, torch::kInt64);
  comm.allgather(count, counts)->wait();
  const std::int64_t most = counts.max().item<std::int64_t>();
  torch::Tensor rows = torch::full({most}, -1, torch::kInt64);
  torch::Tensor values = torch::zeros({most, width}, torch::kFloat32);
  rows.narrow(0, 0, local.rows.size(0)).copy_(local.rows);
  values.narrow(0, 0, local.rows.size(0)).copy_(local.values);
  torch::Tensor all_rows = torch::empty({world * most}, torch::kInt64);
  torch::Tensor all_values = torch::empty({world * most, width}, torch::kFloat32);
  auto w1 = comm.allgather(rows, all_rows);
  auto w2 = comm.allgather(values, all_values);
  w1->wait();
  w2->wait();
  const torch::Tensor keep = all_rows.ge(0);
  all_rows = all_rows.masked_select(keep);
  all_values = all_values.index({keep});
  // Sum per row in rank order (the same order on every rank, so every rank gets identical sums).
  auto [unique, inverse] = at::_unique(all_rows, /*sorted=*/true, /*return_inverse=*/true);
  torch::Tensor summed = torch::zeros({unique.size(0), width}, torch::kFloat32);
  summed.index_add_(0, inverse, all_values);
  return {unique, summed / static_cast<double>(world)};
}

void lazy_adamw_rows(float* flat_params, std::int64_t block_offset, const SparseRows& grad, float* exp_avg,
                     float* exp_avg_sq, std::int64_t moments_begin, std::int64_t begin, std::int64_t end,
                     const AdamWHyper& hyper, std::int64_t step, float grad_scale) {
  const std::int64_t n = grad.rows.size(0), width = grad.values.size(1);
  const auto* rows = grad.rows.data_ptr<std::int64_t>();
  const float* values = grad.values.data_ptr<float>();
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t row_begin = block_offset + rows[i] * width;
    const std::int64_t a = std::max(row_begin, begin), b = std::min(row_begin + width, end);
    if (a >= b) continue;  // another rank's slice
    fused_adamw(flat_params + a, values + i * width + (a - row_begin), exp_avg + (a - moments_begin),
                exp_avg_sq + (a - moments_begin), b - a, hyper, step, grad_scale);
  }
}

}  // namespace rslicer::train
