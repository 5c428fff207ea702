#include "train/fit.h"

#include <chrono>

namespace rslicer::train {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The step's windows and tokens over every rank.
std::pair<double, double> global_counts(const StepStats& s, dist::Communicator& comm) {
  torch::Tensor counts = torch::tensor({static_cast<std::int64_t>(s.windows), static_cast<std::int64_t>(s.tokens)});
  comm.allreduce(counts, dist::ReduceOp::sum)->wait();
  return {static_cast<double>(counts[0].item<std::int64_t>()), static_cast<double>(counts[1].item<std::int64_t>())};
}

}  // namespace

FitResult fit(Trainer& trainer, data::WindowLoader& loader, const std::vector<Callback*>& callbacks) {
  const std::int64_t max_steps = trainer.options().max_steps, grad_accum = trainer.options().grad_accum;
  dist::Communicator& comm = trainer.communicator();
  const auto start = std::chrono::steady_clock::now();
  const std::int64_t first_step = trainer.steps_done();
  FitResult result;
  result.steps = first_step;
  for (std::int64_t step = first_step; step < max_steps && result.stopped == Stop::no; ++step) {
    for (Callback* c : callbacks)
      if (result.stopped == Stop::no) result.stopped = c->before_step(step);
    if (result.stopped != Stop::no) break;
    std::vector<data::Batch> micro;
    for (std::int64_t k = 0; k < grad_accum; ++k) micro.push_back(loader.next());
    const StepStats s = trainer.step(micro);
    const auto [windows, tokens] = global_counts(s, comm);
    result.tokens += tokens;
    if (step == first_step) result.first_loss = s.loss;
    result.last_loss = s.loss;
    result.steps = step + 1;
    const StepDone done{step, max_steps, s, micro, windows, tokens, seconds_since(start), first_step};
    for (Callback* c : callbacks) {
      const Stop stop = c->after_step(done);
      if (result.stopped == Stop::no) result.stopped = stop;
    }
  }
  result.seconds = seconds_since(start);
  for (Callback* c : callbacks) c->on_end(result);
  return result;
}

}  // namespace rslicer::train
