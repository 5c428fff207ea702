#include "train/optimizer.h"

#include "core/error.h"

namespace rslicer::train {

OptimizerKernel parse_optimizer_kernel(const std::string& name) {
  if (name == "auto") return OptimizerKernel::automatic;
  if (name == "host") return OptimizerKernel::host;
  if (name == "tensor_ops") return OptimizerKernel::tensor_ops;
  throw ConfigError("unknown optimizer kernel '" + name + "'", "train.trainer.optimizer_kernel",
                    "auto, host or tensor_ops");
}

void adamw_tensor_ops(const AdamWStep& s, torch::Tensor param, const torch::Tensor& grad, torch::Tensor exp_avg,
                      torch::Tensor exp_avg_sq) {
  // The kernel's operations in its order, one rounding each (no alpha arguments, which may fuse a multiply-add).
  const torch::Tensor g = grad * s.grad_scale;
  exp_avg.mul_(s.b1).add_(g * s.one_minus_b1);
  exp_avg_sq.mul_(s.b2).add_((g * s.one_minus_b2).mul_(g));
  const torch::Tensor denominator = exp_avg_sq.sqrt().div_(s.bias2_sqrt).add_(s.eps);
  param.mul_(s.decay).sub_((exp_avg / denominator).mul_(s.step_size));
}

FlatAdamW::FlatAdamW(std::int64_t begin, std::int64_t end, torch::Device device, OptimizerKernel kernel)
    : begin_(begin), end_(end), kernel_(kernel) {
  if (end < begin) throw Error("an optimizer range [" + std::to_string(begin) + ", " + std::to_string(end) + ")",
                               "train::FlatAdamW", "begin <= end");
  const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  exp_avg_ = torch::zeros({end - begin}, options);
  exp_avg_sq_ = torch::zeros({end - begin}, options);
  if (kernel_ == OptimizerKernel::host && !exp_avg_.is_cpu())
    throw ConfigError("the host optimizer kernel with buffers on " + device.str(), "train.trainer.optimizer_kernel",
                      "auto or tensor_ops for a device other than the CPU");
}

bool FlatAdamW::host_kernel_for(const torch::Tensor& flat_params) const {
  return kernel_ == OptimizerKernel::host || (kernel_ == OptimizerKernel::automatic && flat_params.is_cpu());
}

void FlatAdamW::begin_update(const AdamWHyper& hyper, float grad_scale) {
  hyper_ = hyper;
  grad_scale_ = grad_scale;
  ++steps_;
}

void FlatAdamW::update_range(torch::Tensor& flat_params, const torch::Tensor& flat_grads, std::int64_t a,
                             std::int64_t b) {
  if (a < begin_ || b > end_ || a > b)
    throw Error("an update of [" + std::to_string(a) + ", " + std::to_string(b) + ")", "train::FlatAdamW",
                "a range within [" + std::to_string(begin_) + ", " + std::to_string(end_) + ")");
  if (a == b) return;
  if (host_kernel_for(flat_params)) {
    fused_adamw(flat_params.data_ptr<float>() + a, flat_grads.data_ptr<float>() + a,
                exp_avg_.data_ptr<float>() + (a - begin_), exp_avg_sq_.data_ptr<float>() + (a - begin_), b - a, hyper_,
                steps_, grad_scale_);
    return;
  }
  adamw_tensor_ops(adamw_step(hyper_, steps_, grad_scale_), flat_params.narrow(0, a, b - a),
                   flat_grads.narrow(0, a, b - a), exp_avg_.narrow(0, a - begin_, b - a),
                   exp_avg_sq_.narrow(0, a - begin_, b - a));
}

void FlatAdamW::update_rows(torch::Tensor& flat_params, std::int64_t block_offset, const SparseRows& rows) {
  if (rows.rows.size(0) == 0) return;
  if (host_kernel_for(flat_params)) {
    lazy_adamw_rows(flat_params.data_ptr<float>(), block_offset, rows, exp_avg_.data_ptr<float>(),
                    exp_avg_sq_.data_ptr<float>(), begin_, begin_, end_, hyper_, steps_, grad_scale_);
    return;
  }
  // Every touched element's place in the flat buffer and in the rows' values, kept where it lies in the range
  // (a slice boundary may cut a row); then the update on the gathered elements, scattered back.
  const std::int64_t width = rows.values.size(1);
  const auto device = flat_params.device();
  const torch::Tensor ids = rows.rows.to(device);
  const torch::Tensor columns = torch::arange(width, torch::TensorOptions().dtype(torch::kInt64).device(device));
  const torch::Tensor element = (block_offset + ids * width).unsqueeze(1) + columns;
  const torch::Tensor value = (torch::arange(ids.size(0), columns.options()) * width).unsqueeze(1) + columns;
  const torch::Tensor within = (element >= begin_) & (element < end_);
  const torch::Tensor at = element.masked_select(within), from = value.masked_select(within);
  const torch::Tensor moment_at = at - begin_;
  torch::Tensor p = flat_params.index_select(0, at), m = exp_avg_.index_select(0, moment_at),
                v = exp_avg_sq_.index_select(0, moment_at);
  adamw_tensor_ops(adamw_step(hyper_, steps_, grad_scale_), p, rows.values.to(device).reshape({-1}).index_select(0, from),
                   m, v);
  flat_params.index_copy_(0, at, p);
  exp_avg_.index_copy_(0, moment_at, m);
  exp_avg_sq_.index_copy_(0, moment_at, v);
}

StateDict FlatAdamW::state_dict() {
  return {{"exp_avg", exp_avg_}, {"exp_avg_sq", exp_avg_sq_}, {"steps", torch::tensor(steps_, torch::kInt64)}};
}

void FlatAdamW::load_state_dict(const StateDict& state) {
  for (const char* key : {"exp_avg", "exp_avg_sq", "steps"})
    if (!state.count(key))
      throw Error(std::string("an optimizer state without '") + key + "'", "train::FlatAdamW::load_state_dict",
                  "exp_avg, exp_avg_sq and steps");
  for (const char* key : {"exp_avg", "exp_avg_sq"})
    if (state.at(key).numel() != end_ - begin_)
      throw Error(std::string("'") + key + "' of " + std::to_string(state.at(key).numel()) + " elements",
                  "train::FlatAdamW::load_state_dict", std::to_string(end_ - begin_) + ", this optimizer's range");
  exp_avg_.copy_(state.at("exp_avg").reshape({-1}));
  exp_avg_sq_.copy_(state.at("exp_avg_sq").reshape({-1}));
  steps_ = state.at("steps").item<std::int64_t>();
}

}  // namespace rslicer::train
