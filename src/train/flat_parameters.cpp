#include "train/flat_parameters.h"

#include "core/error.h"

namespace rslicer::train {

std::vector<std::int64_t> even_partition(std::int64_t numel, int world) {
  const std::int64_t chunk = (numel + world - 1) / world;
  std::vector<std::int64_t> offsets(static_cast<std::size_t>(world) + 1);
  for (int r = 0; r <= world; ++r) offsets[static_cast<std::size_t>(r)] = std::min(numel, chunk * r);
  return offsets;
}

FlatParameters::FlatParameters(std::vector<std::string> names, std::vector<torch::Tensor> parameters, int world,
                               torch::Device device)
    : parameters_(std::move(parameters)) {
  if (names.size() != parameters_.size())
    throw Error("flat parameters: " + std::to_string(names.size()) + " names for " +
                    std::to_string(parameters_.size()) + " tensors",
                "train::FlatParameters", "one name per parameter");
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const auto& p = parameters_[i];
    if (p.scalar_type() != torch::kFloat32)
      throw Error("parameter " + names[i] + " is not float32", "train::FlatParameters", "fp32 master weights");
    if (p.device() != device)
      throw Error("parameter " + names[i] + " on " + p.device().str(), "train::FlatParameters",
                  "every parameter on " + device.str());
    entries_.push_back({names[i], p.sizes().vec(), numel_, p.numel()});
    numel_ += p.numel();
  }
  partition_ = even_partition(numel_, world);
  chunk_ = (numel_ + world - 1) / world;
  const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  params_ = torch::zeros({chunk_ * world}, options);
  grads_ = torch::zeros({chunk_ * world}, options);
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    auto view = params_.narrow(0, entries_[i].offset, entries_[i].numel).view(parameters_[i].sizes());
    view.copy_(parameters_[i].detach());
    parameters_[i].set_data(view);  // the module's parameter now lives in the flat buffer
  }
}

std::int64_t FlatParameters::find(const std::string& name) const {
  for (std::size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].name == name) return static_cast<std::int64_t>(i);
  return -1;
}

void FlatParameters::collect_grads(std::int64_t skip) {
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    if (static_cast<std::int64_t>(i) == skip) continue;
    auto slot = grads_.narrow(0, entries_[i].offset, entries_[i].numel);
    const auto& g = parameters_[i].grad();
    if (g.defined())
      slot.copy_(g.reshape({-1}));
    else
      slot.zero_();
  }
}

}  // namespace rslicer::train
