#include "dist/all_gather_with_grad.h"

namespace rslicer::dist {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct AllGatherFunction : torch::autograd::Function<AllGatherFunction> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor local, Communicator* comm) {
    ctx->saved_data["comm"] = reinterpret_cast<std::int64_t>(comm);
    return all_gather(local, *comm);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto* comm = reinterpret_cast<Communicator*>(ctx->saved_data["comm"].toInt());
    auto grad = grads[0].contiguous();
    auto out = torch::empty({grad.size(0) / comm->world_size()}, grad.options());
    if (grad.dim() > 1) {
      auto sizes = grad.sizes().vec();
      sizes[0] /= comm->world_size();
      out = torch::empty(sizes, grad.options());
    }
    comm->reduce_scatter(grad, out)->wait();
    return {out, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor all_gather(const torch::Tensor& local, Communicator& comm) {
  auto input = local.detach().contiguous();
  auto sizes = input.sizes().vec();
  sizes[0] *= comm.world_size();
  auto output = torch::empty(sizes, input.options());
  comm.allgather(input, output)->wait();
  return output;
}

torch::Tensor all_gather_with_grad(const torch::Tensor& local, Communicator& comm) {
  if (comm.world_size() == 1) return local;  // identity, gradient included
  return AllGatherFunction::apply(local, &comm);
}

}  // namespace rslicer::dist
