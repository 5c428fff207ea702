#include "train/sparse_rows.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <numeric>
#include <string>
#include <vector>

#include "core/error.h"

namespace rslicer::train {

SparseRows coalesce_rows(const torch::Tensor& sparse_grad) {
  // An embedding's backward gives one (row, values) entry per token: sort the token positions by row (stable, so
  // a row's duplicates are summed in the order the tokens came) and sum each run into one output row. A few
  // thousand ids sort in microseconds; torch's coalesce (the reference) takes several times longer here.
  if (sparse_grad.is_coalesced()) return coalesce_rows_reference(sparse_grad);
  const torch::Tensor ids_tensor = sparse_grad._indices().select(0, 0).contiguous();
  const torch::Tensor values_tensor = sparse_grad._values().contiguous();
  const std::int64_t n = ids_tensor.size(0), width = values_tensor.size(1);
  const auto* ids = ids_tensor.data_ptr<std::int64_t>();
  const float* values = values_tensor.data_ptr<float>();
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [ids](std::int64_t a, std::int64_t b) { return ids[a] < ids[b]; });
  std::int64_t unique = 0;
  for (std::int64_t i = 0; i < n; ++i) unique += i == 0 || ids[order[i]] != ids[order[i - 1]];
  torch::Tensor rows = torch::empty({unique}, torch::kInt64);
  torch::Tensor summed = torch::empty({unique, width}, torch::kFloat32);
  auto* out_ids = rows.data_ptr<std::int64_t>();
  float* out = summed.data_ptr<float>() - width;  // advanced before the first row is written
  for (std::int64_t i = 0; i < n; ++i) {
    const float* v = values + order[i] * width;
    if (i == 0 || ids[order[i]] != ids[order[i - 1]]) {
      *out_ids++ = ids[order[i]];
      out += width;
      std::copy(v, v + width, out);
    } else {
      for (std::int64_t j = 0; j < width; ++j) out[j] += v[j];
    }
  }
  return {rows, summed};
}

SparseRows coalesce_rows_reference(const torch::Tensor& sparse_grad) {
  const auto g = sparse_grad.coalesce();  // sorted unique rows, duplicates summed
  return {g.indices().select(0, 0).contiguous(), g.values().contiguous()};
}

namespace {

std::vector<std::int64_t> to_vector(const torch::Tensor& counts) {
  const auto* c = counts.data_ptr<std::int64_t>();
  return {c, c + counts.numel()};
}

}  // namespace

GatheredRows gather_rows(const SparseRows& local, dist::Communicator& comm) {
  const int world = comm.world_size();
  const std::int64_t n = local.rows.size(0), width = local.values.size(1);
  torch::Tensor count = torch::tensor({n}, torch::kInt64);
  torch::Tensor counts = torch::empty({world}, torch::kInt64);
  comm.allgather(count, counts)->wait();
  const std::int64_t capacity = counts.max().item<std::int64_t>();
  torch::Tensor rows_out = torch::full({capacity}, -1, torch::kInt64), values_out = torch::zeros({capacity, width});
  rows_out.narrow(0, 0, n).copy_(local.rows);
  values_out.narrow(0, 0, n).copy_(local.values);
  torch::Tensor rows_in = torch::empty({world * capacity}, torch::kInt64), values_in = torch::empty({world * capacity, width});
  comm.allgather(rows_out, rows_in)->wait();
  comm.allgather(values_out, values_in)->wait();
  std::vector<torch::Tensor> rows, values;
  for (int r = 0; r < world; ++r) {
    rows.push_back(rows_in.narrow(0, r * capacity, counts[r].item<std::int64_t>()));
    values.push_back(values_in.narrow(0, r * capacity, counts[r].item<std::int64_t>()));
  }
  return {counts, torch::cat(rows), torch::cat(values)};
}

RowsExchange::RowsExchange(const SparseRows& local, dist::Communicator& comm)
    : comm_(comm), local_{local.rows.contiguous(), local.values.contiguous()} {
  count_out_ = torch::tensor({local_.rows.size(0)}, torch::kInt64);
  counts_in_ = torch::empty({comm_.world_size()}, torch::kInt64);
  counts_work_ = comm_.allgather(count_out_, counts_in_);
}

namespace {

std::vector<std::int64_t> times(std::vector<std::int64_t> counts, std::int64_t width) {
  for (auto& c : counts) c *= width;
  return counts;
}

// The second round of both exchanges, once the counts of rows coming from each rank are in: the output sized
// for them, and `launch(output, row_counts_in, element_counts_in)` starting the ids' and the values' collectives
// into it, which are waited for.
template <class Launch>
GatheredRows receive_rows(const torch::Tensor& counts_in, std::int64_t width, Launch&& launch) {
  const std::vector<std::int64_t> counts = to_vector(counts_in);
  const std::int64_t total = std::accumulate(counts.begin(), counts.end(), std::int64_t{0});
  GatheredRows g{counts_in, torch::empty({total}, torch::kInt64), torch::empty({total, width}, torch::kFloat32)};
  for (const auto& work : launch(g, counts, times(counts, width))) work->wait();
  return g;
}

}  // namespace

GatheredRows RowsExchange::finish() {
  counts_work_->wait();
  return receive_rows(counts_in_, local_.values.size(1), [&](GatheredRows& g, const auto& counts, const auto& elements) {
    return std::array{comm_.allgather(local_.rows, g.rows, counts), comm_.allgather(local_.values, g.values, elements)};
  });
}

namespace {

// Whether row `id` of a [V, width] block at `block_offset` has elements in [lo, hi) of the flat buffer.
struct RowInSlice {
  std::int64_t block_offset, width, lo, hi;
  bool ends_after_lo(std::int64_t id) const { return block_offset + (id + 1) * width > lo; }
  bool begins_before_hi(std::int64_t id) const { return block_offset + id * width < hi; }
  bool operator()(std::int64_t id) const { return row_within(block_offset, width, id, lo, hi).count > 0; }
};

RowInSlice slice_of(int rank, std::int64_t block_offset, std::int64_t width, const std::vector<std::int64_t>& partition) {
  return {block_offset, width, partition[static_cast<std::size_t>(rank)], partition[static_cast<std::size_t>(rank) + 1]};
}

}  // namespace

RowsToOwners::RowsToOwners(const SparseRows& local, std::int64_t block_offset, const std::vector<std::int64_t>& partition,
                           dist::Communicator& comm)
    : comm_(comm), local_{local.rows.contiguous(), local.values.contiguous()} {
  const int world = comm_.world_size();
  if (static_cast<int>(partition.size()) != world + 1)
    throw Error("a partition of " + std::to_string(partition.size()) + " bounds", "train::RowsToOwners",
                "world size + 1 (" + std::to_string(world + 1) + ") bounds");
  const auto* ids = local_.rows.data_ptr<std::int64_t>();
  const std::int64_t n = local_.rows.size(0), width = local_.values.size(1);
  for (int r = 0; r < world; ++r) {
    const RowInSlice in = slice_of(r, block_offset, width, partition);
    const auto* first = std::partition_point(ids, ids + n, [&](std::int64_t id) { return !in.ends_after_lo(id); });
    const auto* last = std::partition_point(first, ids + n, [&](std::int64_t id) { return in.begins_before_hi(id); });
    first_.push_back(first - ids);
    count_.push_back(last - first);
  }
  counts_out_ = torch::tensor(count_, torch::kInt64);  // what the round of counts sends (kept alive for MPI)
  counts_in_ = torch::empty({world}, torch::kInt64);
  const std::vector<std::int64_t> ones(static_cast<std::size_t>(world), 1);
  std::vector<std::int64_t> offsets(static_cast<std::size_t>(world));
  std::iota(offsets.begin(), offsets.end(), 0);
  counts_work_ = comm_.alltoall(counts_out_, counts_in_, ones, offsets, ones);
}

GatheredRows RowsToOwners::finish() {
  counts_work_->wait();
  const std::int64_t width = local_.values.size(1);
  return receive_rows(counts_in_, width, [&](GatheredRows& g, const auto& counts, const auto& elements) {
    return std::array{comm_.alltoall(local_.rows, g.rows, count_, first_, counts),
                      comm_.alltoall(local_.values, g.values, times(count_, width), times(first_, width), elements)};
  });
}

GatheredRows gather_rows_to_owners(const SparseRows& local, std::int64_t block_offset,
                                   const std::vector<std::int64_t>& partition, dist::Communicator& comm) {
  const GatheredRows all = gather_rows(local, comm);
  const RowInSlice in = slice_of(comm.rank(), block_offset, local.values.size(1), partition);
  torch::Tensor keep = torch::empty({all.rows.size(0)}, torch::kBool);
  for (std::int64_t i = 0; i < all.rows.size(0); ++i) keep[i] = in(all.rows[i].item<std::int64_t>());
  GatheredRows mine{torch::empty_like(all.counts), all.rows.masked_select(keep), all.values.index({keep})};
  for (std::int64_t r = 0, at = 0; r < all.counts.size(0); ++r) {
    const std::int64_t n = all.counts[r].item<std::int64_t>();
    mine.counts[r] = keep.narrow(0, at, n).sum();
    at += n;
  }
  return mine;
}

SparseRows sum_gathered_rows(const GatheredRows& g) {
  // A k-way merge of the ranks' sorted row lists; a row's values are summed in rank order (what the reference's
  // index_add_ over the rank-major list does), so both give the same bits.
  const std::vector<std::int64_t> counts = to_vector(g.counts);
  const auto world = static_cast<std::int64_t>(counts.size());
  const std::int64_t width = g.values.size(1);
  const auto* ids = g.rows.data_ptr<std::int64_t>();
  const float* values = g.values.data_ptr<float>();
  std::vector<std::int64_t> head(counts.size()), end(counts.size());  // rank r's next and end positions
  for (std::int64_t r = 0, at = 0; r < world; ++r) {
    head[r] = at;
    end[r] = at += counts[r];
  }
  const std::int64_t total = g.rows.size(0);
  torch::Tensor rows = torch::empty({total}, torch::kInt64);
  torch::Tensor summed = torch::empty({total, width}, torch::kFloat32);
  auto* out_ids = rows.data_ptr<std::int64_t>();
  float* out = summed.data_ptr<float>();
  std::int64_t n = 0;
  for (;;) {
    std::int64_t next = -1;
    for (std::int64_t r = 0; r < world; ++r)
      if (head[r] < end[r] && (next < 0 || ids[head[r]] < next)) next = ids[head[r]];
    if (next < 0) break;
    float* row = out + n * width;
    bool first = true;
    for (std::int64_t r = 0; r < world; ++r) {
      if (head[r] >= end[r] || ids[head[r]] != next) continue;
      const float* v = values + head[r] * width;
      if (first)
        std::copy(v, v + width, row);
      else
        for (std::int64_t j = 0; j < width; ++j) row[j] += v[j];
      first = false;
      ++head[r];
    }
    out_ids[n++] = next;
  }
  return {rows.narrow(0, 0, n), summed.narrow(0, 0, n).div_(static_cast<double>(world))};
}

SparseRows sum_gathered_rows_reference(const GatheredRows& g) {
  // Sum per row in rank order (the same order on every rank, so every rank gets identical sums).
  auto [unique, inverse] = at::_unique(g.rows, /*sorted=*/true, /*return_inverse=*/true);
  torch::Tensor summed = torch::zeros({unique.size(0), g.values.size(1)}, torch::kFloat32);
  summed.index_add_(0, inverse, g.values);
  return {unique, summed / static_cast<double>(g.counts.size(0))};
}

RowsWithin rows_within(const SparseRows& grad, std::int64_t block_offset, std::int64_t begin, std::int64_t end) {
  // Rows are sorted and the range contiguous, so the rows wholly within it are one run (one BLAS dot product)
  // and at most two rows, at its ends, are cut by it.
  const std::int64_t n = grad.rows.size(0), width = grad.values.size(1);
  const auto* ids = grad.rows.data_ptr<std::int64_t>();
  const auto squares = [](const torch::Tensor& x) {
    const torch::Tensor flat = x.reshape({-1});
    return flat.numel() == 0 ? 0.0 : torch::dot(flat, flat).item<double>();
  };
  RowsWithin within;
  std::int64_t whole_first = n, whole_count = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const RowPart part = row_within(block_offset, width, ids[i], begin, end);
    if (part.count == 0) continue;
    ++within.rows;
    within.elements += part.count;
    if (part.count == width) {
      whole_first = std::min(whole_first, i);
      ++whole_count;
    } else {
      within.squares += squares(grad.values[i].narrow(0, part.first - (block_offset + ids[i] * width), part.count));
    }
  }
  if (whole_count > 0) within.squares += squares(grad.values.narrow(0, whole_first, whole_count));
  return within;
}

void lazy_adamw_rows(float* flat_params, std::int64_t block_offset, const SparseRows& grad, float* exp_avg,
                     float* exp_avg_sq, std::int64_t moments_begin, std::int64_t begin, std::int64_t end,
                     const AdamWHyper& hyper, std::int64_t step, float grad_scale) {
  const std::int64_t n = grad.rows.size(0), width = grad.values.size(1);
  const auto* rows = grad.rows.data_ptr<std::int64_t>();
  const float* values = grad.values.data_ptr<float>();
  const AdamWStep s = adamw_step(hyper, step, grad_scale);
  // Rows are distinct (coalesced), so threads never share an element; 256 rows a task.
  at::parallel_for(0, n, 256, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t i = first; i < last; ++i) {
      const RowPart part = row_within(block_offset, width, rows[i], begin, end);
      if (part.count == 0) continue;  // another rank's slice
      const std::int64_t a = part.first, in_row = a - (block_offset + rows[i] * width);
      adamw_kernel(s, flat_params + a, values + i * width + in_row, exp_avg + (a - moments_begin),
                   exp_avg_sq + (a - moments_begin), part.count);
    }
  });
}

}  // namespace rslicer::train
