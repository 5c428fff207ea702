#include "train/trainer.h"

#include <chrono>
#include <cmath>

#include "core/error.h"

namespace rslicer::train {

model::TokenTensors to_tensors(const data::TokenBatch& b) {
  auto ids = torch::from_blob(const_cast<std::int64_t*>(b.ids.data()), {b.batch, b.length}, torch::kInt64).clone();
  auto mask = torch::from_blob(const_cast<std::int64_t*>(b.mask.data()), {b.batch, b.length}, torch::kInt64).clone();
  return {ids, mask};
}

BatchTensors to_tensors(const data::Batch& batch) {
  BatchTensors t;
  t.metrics = to_tensors(batch.metrics);
  t.traces = to_tensors(batch.traces);
  t.logs = to_tensors(batch.logs);
  const auto n = static_cast<std::int64_t>(batch.samples.size());
  t.begin_ns = torch::from_blob(const_cast<std::int64_t*>(batch.begin_ns.data()), {n}, torch::kInt64).clone();
  t.end_ns = torch::from_blob(const_cast<std::int64_t*>(batch.end_ns.data()), {n}, torch::kInt64).clone();
  t.labels = torch::empty({n}, torch::kInt64);
  for (std::int64_t i = 0; i < n; ++i) t.labels[i] = static_cast<std::int64_t>(batch.labels[static_cast<std::size_t>(i)]);
  return t;
}

Trainer::Trainer(model::RuntimeSlicer model, dist::Communicator& comm, TrainOptions options)
    : model_(std::move(model)), comm_(comm), options_(options) {
  if (options_.grad_accum < 1) throw ConfigError("grad_accum must be >= 1", "train.grad_accum", "a positive integer");
  for (const auto& p : model_->parameters())
    if (p.requires_grad()) params_.push_back(p);
  if (options_.learnable_temperature) {
    logit_scale_ = torch::full({}, std::log(1.0 / options_.loss.temperature), torch::requires_grad());
    params_.push_back(logit_scale_);
  }
  optimizer_ = std::make_unique<torch::optim::AdamW>(
      params_, torch::optim::AdamWOptions(options_.lr).weight_decay(options_.weight_decay).eps(options_.adam_eps));
  reducer_ = std::make_unique<dist::GradientReducer>(params_, comm_, options_.reducer);
}

void Trainer::broadcast_parameters() {
  torch::NoGradGuard no_grad;
  for (auto& p : params_) {
    auto data = p.detach();
    comm_.broadcast(data, 0)->wait();
  }
}

double Trainer::lr_at(std::int64_t step) const {
  if (options_.warmup_steps > 0 && step < options_.warmup_steps)
    return options_.lr * static_cast<double>(step + 1) / static_cast<double>(options_.warmup_steps);
  const double span = std::max<std::int64_t>(1, options_.max_steps - options_.warmup_steps);
  const double progress = std::min(1.0, static_cast<double>(step - options_.warmup_steps) / span);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return options_.lr * (options_.min_lr_ratio + (1.0 - options_.min_lr_ratio) * cosine);
}

losses::LossTerms Trainer::forward_loss(const BatchTensors& b) {
  model::Encoded e = model_->encode(b.metrics, b.traces, b.logs);
  losses::LossInputs in{e.e_m, e.e_t, e.e_l, e.z, b.begin_ns, b.end_ns, b.labels, logit_scale_};
  return losses::runtime_slicer_loss(in, comm_, options_.loss);
}

losses::LossTerms Trainer::evaluate(const data::Batch& batch) {
  torch::NoGradGuard no_grad;
  model_->eval();
  auto terms = forward_loss(to_tensors(batch));
  model_->train();
  // Mean over ranks: the global batch's loss.
  torch::Tensor values = torch::stack({terms.total, terms.modal, terms.temporal, terms.anomaly}).contiguous();
  comm_.allreduce(values, dist::ReduceOp::avg)->wait();
  return {values[0], values[1], values[2], values[3]};
}

StepStats Trainer::step(const std::vector<data::Batch>& micro_batches) {
  if (static_cast<std::int64_t>(micro_batches.size()) != options_.grad_accum)
    throw Error("step got " + std::to_string(micro_batches.size()) + " micro-batches", "train::Trainer",
                std::to_string(options_.grad_accum) + " (train.grad_accum)");
  const auto t0 = std::chrono::steady_clock::now();
  const double wait_before = reducer_->seconds_waiting();
  StepStats s;
  s.step = step_;
  s.lr = lr_at(step_);
  for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(s.lr);
  optimizer_->zero_grad();
  torch::Tensor logged = torch::zeros({4});
  for (std::size_t k = 0; k < micro_batches.size(); ++k) {
    const bool last = k + 1 == micro_batches.size();
    reducer_->prepare(last);
    auto terms = forward_loss(to_tensors(micro_batches[k]));
    (terms.total / static_cast<double>(options_.grad_accum)).backward();
    logged += torch::stack({terms.total, terms.modal, terms.temporal, terms.anomaly}).detach() /
              static_cast<double>(options_.grad_accum);
    s.windows += micro_batches[k].samples.size();
    s.tokens += micro_batches[k].tokens();
  }
  reducer_->finish();
  if (options_.grad_clip > 0)
    s.grad_norm = torch::nn::utils::clip_grad_norm_(params_, options_.grad_clip);
  optimizer_->step();
  ++step_;
  comm_.allreduce(logged, dist::ReduceOp::avg)->wait();  // the global batch's loss (figures only)
  s.loss = logged[0].item<double>();
  s.modal = logged[1].item<double>();
  s.temporal = logged[2].item<double>();
  s.anomaly = logged[3].item<double>();
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.comm_wait_seconds = reducer_->seconds_waiting() - wait_before;
  return s;
}

}  // namespace rslicer::train
