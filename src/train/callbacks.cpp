#include "train/callbacks.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cmath>
#include <csignal>

#include "core/error.h"

namespace rslicer::train {

namespace {
std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int signal) { g_stop_signal.store(signal); }
}  // namespace

struct StopSignals::Saved {
  struct sigaction term {}, usr1 {};
};

StopSignals::StopSignals() : saved_(std::make_unique<Saved>()) {
  g_stop_signal.store(0);
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, &saved_->term);
  sigaction(SIGUSR1, &action, &saved_->usr1);
}

StopSignals::~StopSignals() {
  sigaction(SIGTERM, &saved_->term, nullptr);
  sigaction(SIGUSR1, &saved_->usr1, nullptr);
}

int StopSignals::received() const { return g_stop_signal.load(); }

std::string duration_text(double seconds) {
  if (seconds < 60) return fmt::format("{:.0f}s", seconds);
  if (seconds < 3600) return fmt::format("{:.0f}m{:02.0f}s", std::floor(seconds / 60), std::fmod(seconds, 60));
  return fmt::format("{:.0f}h{:02.0f}m", std::floor(seconds / 3600), std::fmod(seconds / 60, 60));
}

// ---- StopAndCheckpoint ----

StopAndCheckpoint::StopAndCheckpoint(Parts parts, const StepLoopOptions& options, std::deque<double> loss_tail,
                                     const BatchBalancer* balancer)
    : p_(parts), options_(options), loss_tail_(std::move(loss_tail)), balancer_(balancer) {}

// Every rank stops (and saves on time) at the same step: the flags are all-reduced (a signal may reach ranks at
// different times; rank 0's clock decides the time-based save).
Stop StopAndCheckpoint::before_step(std::int64_t step) {
  if (first_step_ < 0) first_step_ = step;
  p_.checkpoints.finish_pending();  // an async save started last step completes here
  torch::Tensor flags = torch::tensor({static_cast<std::int64_t>(p_.signals.received()),
                                       static_cast<std::int64_t>(p_.mpi.is_root() && p_.checkpoints.due_by_time())});
  p_.comm.allreduce(flags, dist::ReduceOp::max)->wait();
  if (flags[0].item<std::int64_t>() != 0) {
    spdlog::warn("signal {} received: checkpointing and stopping after step {}", flags[0].item<std::int64_t>(), step);
    return Stop::signal;
  }
  if (flags[1].item<std::int64_t>() != 0 && step > first_step_) save();
  return Stop::no;
}

Stop StopAndCheckpoint::after_step(const StepDone& done) {
  loss_tail_.push_back(done.stats.loss);
  if (loss_tail_.size() > 20) loss_tail_.pop_front();
  const std::int64_t steps_done = done.step + 1;
  if (options_.stop_after_steps > 0 && steps_done - done.first_step >= options_.stop_after_steps &&
      steps_done < done.max_steps) {
    spdlog::info("train.stop_after_steps={} reached: checkpointing and stopping after step {}", options_.stop_after_steps,
                 steps_done);
    return Stop::early;
  }
  if (p_.checkpoints.due_by_steps(steps_done) && steps_done < done.max_steps) save();
  return Stop::no;
}

void StopAndCheckpoint::on_end(const FitResult& result) {
  if (result.stopped != Stop::no || options_.checkpoint_at_end) save();
  p_.checkpoints.finish_pending();
}

void StopAndCheckpoint::save() {
  TrainingCursor cursor;
  cursor.step = p_.trainer.steps_done();
  const data::LoaderState loader = p_.loader.state();
  cursor.data_step = loader.next_step;
  cursor.val_data_step = p_.val_loader.state().next_step;  // validation batches are split evenly
  cursor.loss_tail.assign(loss_tail_.begin(), loss_tail_.end());
  if (balancer_) {
    cursor.splits = loader.splits;
    cursor.balancer = balancer_->state_dict();
  }
  p_.checkpoints.save(p_.trainer, cursor);
}

// ---- Rebalance ----

// A new split takes effect at the first step the loader has not started building.
Stop Rebalance::after_step(const StepDone& done) {
  const StepStats& s = done.stats;
  const auto& ran_with = done.micro_batches.front().rank_windows;
  const double pace = s.compute_seconds / static_cast<double>(std::max<std::size_t>(s.windows, 1));
  if (!balancer_.observe(pace, ran_with, comm_)) return Stop::no;
  const std::uint64_t from = loader_.next_step() + loader_.options().prefetch;
  loader_.set_split_from(from, balancer_.split());
  if (mpi_.is_root())
    spdlog::info("train.balance: windows per rank {} from step {} ({}seconds per window {:.4f})",
                 fmt::join(balancer_.split(), "/"), from / static_cast<std::uint64_t>(grad_accum_) + 1,
                 balancer_.moved_back() ? "back: the split left measured slower; " : "",
                 fmt::join(balancer_.pace(), "/"));
  return Stop::no;
}

// ---- Progress ----

Progress::Progress(Trainer& trainer, data::WindowLoader& val_loader, const std::filesystem::path& run_dir,
                   const dist::MpiContext& mpi, const StepLoopOptions& options, bool show_split)
    : trainer_(trainer), val_loader_(val_loader), mpi_(mpi), options_(options), show_split_(show_split) {
  if (!mpi_.is_root()) return;
  const auto path = run_dir / "metrics.jsonl";
  metrics_ = std::make_unique<std::ofstream>(path, std::ios::app);
  if (!*metrics_) throw Error("cannot write metrics", path.string(), "a writable run directory");
}

double Progress::validation_loss() {
  double v = 0;
  for (std::int64_t k = 0; k < options_.val_batches; ++k) v += trainer_.evaluate(val_loader_.next()).total.item<double>();
  return v / static_cast<double>(std::max<std::int64_t>(options_.val_batches, 1));
}

// The step's metrics line (with validation when due) and its progress line.
Stop Progress::after_step(const StepDone& d) {
  const StepStats& s = d.stats;
  const std::int64_t steps_done = d.step + 1;
  const double eta = d.elapsed_seconds / static_cast<double>(steps_done - d.first_step) *
                     static_cast<double>(d.max_steps - steps_done);
  nlohmann::json line = {{"step", steps_done},         {"loss", s.loss},          {"modal", s.modal},
                         {"temporal", s.temporal},     {"anomaly", s.anomaly},    {"type", s.type},
                         {"neighbourhood", s.neighbourhood}, {"lr", s.lr},
                         {"grad_norm", s.grad_norm},   {"windows_per_s", d.windows / s.seconds},
                         {"tokens_per_s", d.tokens / s.seconds}, {"step_s", s.seconds},
                         {"comm_wait_s", s.comm_wait_seconds}, {"elapsed_s", d.elapsed_seconds}, {"skipped", s.skipped}};
  if (show_split_) line["rank_windows"] = d.micro_batches.front().rank_windows;
  if (options_.val_every > 0 && (steps_done % options_.val_every == 0 || steps_done == d.max_steps))
    line["val_loss"] = validation_loss();
  if (metrics_) *metrics_ << line.dump() << "\n" << std::flush;
  if (mpi_.is_root() && (d.step % options_.log_every == 0 || steps_done == d.max_steps))
    spdlog::info("step {}/{} | loss {:.4f} (modal {:.4f} temp {:.4f} anom {:.4f} type {:.4f} neigh {:.4f}){} | lr {:.2e} | {:.1f} windows/s "
                 "{:.0f} tokens/s | ETA {}",
                 steps_done, d.max_steps, s.loss, s.modal, s.temporal, s.anomaly, s.type, s.neighbourhood,
                 line.contains("val_loss") ? fmt::format(" val {:.4f}", line["val_loss"].get<double>()) : "", s.lr,
                 d.windows / s.seconds, d.tokens / s.seconds, duration_text(eta));
  return Stop::no;
}

}  // namespace rslicer::train
