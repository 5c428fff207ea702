#include "train/fault_injector.h"

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <thread>

#include "core/error.h"

namespace rslicer::train {

FaultInjector FaultInjector::parse(const std::string& spec) {
  FaultInjector f;
  if (spec.empty()) return f;
  int rank = -1;
  long long step = -1;
  double factor = 1;
  char tail = 0;  // a character after the last field: the spec is malformed
  if (std::sscanf(spec.c_str(), "nan_loss:%lld%c", &step, &tail) == 1) {
    f.kind_ = Kind::nan_loss;
  } else if (std::sscanf(spec.c_str(), "kill_in_step:%d:%lld%c", &rank, &step, &tail) == 2) {
    f.kind_ = Kind::kill_in_step;
  } else if (std::sscanf(spec.c_str(), "hang_in_step:%d:%lld%c", &rank, &step, &tail) == 2) {
    f.kind_ = Kind::hang_in_step;
  } else if (std::sscanf(spec.c_str(), "slow_rank:%d:%lf%c", &rank, &factor, &tail) == 2) {
    f.kind_ = Kind::slow_rank;
  } else if (std::sscanf(spec.c_str(), "kill_in_save:%d:%lld%c", &rank, &step, &tail) == 2) {
    f.kind_ = Kind::kill_in_save;
  } else {
    throw ConfigError("unknown fault '" + spec + "'", "RSLICER_FAULT",
                      "nan_loss:S, kill_in_step:R:S, hang_in_step:R:S, slow_rank:R:F or kill_in_save:R:S");
  }
  f.rank_ = rank;
  f.step_ = step;
  f.factor_ = factor;
  return f;
}

FaultInjector FaultInjector::from_environment() {
  const char* spec = std::getenv("RSLICER_FAULT");
  return parse(spec ? spec : "");
}

torch::Tensor FaultInjector::on_loss(std::int64_t step, const torch::Tensor& loss) const {
  if (kind_ != Kind::nan_loss || step + 1 != step_) return loss;
  return loss * std::numeric_limits<float>::quiet_NaN();
}

void FaultInjector::after_forward(int rank, std::int64_t step) const {
  if ((kind_ != Kind::kill_in_step && kind_ != Kind::hang_in_step) || rank != rank_ || step + 1 != step_) return;
  const bool hang = kind_ == Kind::hang_in_step;
  spdlog::warn("fault injection: rank {} {} in step {}", rank, hang ? "hangs" : "dies", step + 1);
  if (!hang) std::raise(SIGKILL);
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

void FaultInjector::slow_down(int rank, std::chrono::steady_clock::time_point since) const {
  if (kind_ != Kind::slow_rank || rank != rank_ || factor_ <= 1) return;
  std::this_thread::sleep_for((factor_ - 1) * (std::chrono::steady_clock::now() - since));
}

void FaultInjector::after_shard_written(int rank, std::int64_t step) const {
  if (kind_ != Kind::kill_in_save || rank != rank_ || step != step_) return;
  spdlog::warn("fault injection: rank {} kills itself while saving step {}", rank, step);
  std::raise(SIGKILL);
}

}  // namespace rslicer::train
