#include "dist/all_gather_with_grad.h"

#include <numeric>

#include "core/error.h"

namespace rslicer::dist {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Elements of one row of `t` ([rows, ...]).
std::int64_t row_elements(const torch::Tensor& t) {
  std::int64_t n = 1;
  for (std::int64_t d = 1; d < t.dim(); ++d) n *= t.size(d);
  return n;
}

// Every rank's element count, from its rows; checks this rank's own count against its tensor.
std::vector<std::int64_t> element_counts(const torch::Tensor& local, const Communicator& comm,
                                         const std::vector<std::int64_t>& rows_per_rank) {
  if (static_cast<int>(rows_per_rank.size()) != comm.world_size() ||
      rows_per_rank[static_cast<std::size_t>(comm.rank())] != local.size(0))
    throw Error("rows per rank (" + std::to_string(rows_per_rank.size()) + " counts) do not match rank " +
                    std::to_string(comm.rank()) + "'s " + std::to_string(local.size(0)) + " rows",
                "dist::all_gather", "one count per rank, this rank's equal to its rows");
  std::vector<std::int64_t> counts;
  for (auto rows : rows_per_rank) counts.push_back(rows * row_elements(local));
  return counts;
}

torch::Tensor gathered_like(const torch::Tensor& local, std::int64_t rows) {
  auto sizes = local.sizes().vec();
  sizes[0] = rows;
  return torch::empty(sizes, local.options());
}

struct AllGatherFunction : torch::autograd::Function<AllGatherFunction> {
  // `rows_per_rank` empty: the even split.
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor local, Communicator* comm, std::vector<std::int64_t> rows_per_rank) {
    ctx->saved_data["comm"] = reinterpret_cast<std::int64_t>(comm);
    ctx->saved_data["rows"] = rows_per_rank;
    return all_gather(local, *comm, rows_per_rank);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto* comm = reinterpret_cast<Communicator*>(ctx->saved_data["comm"].toInt());
    const std::vector<std::int64_t> rows = ctx->saved_data["rows"].toIntVector();
    auto grad = grads[0].contiguous();
    if (rows.empty()) {
      torch::Tensor out = gathered_like(grad, grad.size(0) / comm->world_size());
      comm->reduce_scatter(grad, out)->wait();
      return {out, torch::Tensor(), torch::Tensor()};
    }
    torch::Tensor out = gathered_like(grad, rows[static_cast<std::size_t>(comm->rank())]);
    std::vector<std::int64_t> counts;
    for (auto r : rows) counts.push_back(r * row_elements(grad));
    torch::Tensor flat_out = out.view({-1});
    comm->reduce_scatter(grad.view({-1}), flat_out, counts, ReduceOp::sum)->wait();
    return {out, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor all_gather(const torch::Tensor& local, Communicator& comm) {
  auto input = local.detach().contiguous();
  auto output = gathered_like(input, input.size(0) * comm.world_size());
  comm.allgather(input, output)->wait();
  return output;
}

torch::Tensor all_gather(const torch::Tensor& local, Communicator& comm, const std::vector<std::int64_t>& rows_per_rank) {
  if (rows_per_rank.empty()) return all_gather(local, comm);
  auto input = local.detach().contiguous();
  const std::vector<std::int64_t> counts = element_counts(input, comm, rows_per_rank);
  auto output = gathered_like(input, std::accumulate(rows_per_rank.begin(), rows_per_rank.end(), std::int64_t{0}));
  torch::Tensor flat_output = output.view({-1});
  comm.allgather(input.view({-1}), flat_output, counts)->wait();
  return output;
}

torch::Tensor all_gather_with_grad(const torch::Tensor& local, Communicator& comm) {
  if (comm.world_size() == 1) return local;  // identity, gradient included
  return AllGatherFunction::apply(local, &comm, std::vector<std::int64_t>{});
}

torch::Tensor all_gather_with_grad(const torch::Tensor& local, Communicator& comm, const std::vector<std::int64_t>& rows_per_rank) {
  if (comm.world_size() == 1) return local;
  if (!rows_per_rank.empty()) element_counts(local, comm, rows_per_rank);  // checked before autograd: the error names this call
  return AllGatherFunction::apply(local, &comm, rows_per_rank);
}

}  // namespace rslicer::dist
