#include "cli/slurm_launcher.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <memory>

#include "core/atomic_file.h"
#include "core/error.h"

namespace fs = std::filesystem;

namespace rslicer::cli {

namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string setting(const YAML::Node& slurm, const std::string& key) {
  const YAML::Node v = slurm[key];
  return v && !v.IsNull() ? v.as<std::string>() : "";
}

// Runs `command` through the shell; returns its standard output (the job id of sbatch --parsable).
std::string run_and_capture(const std::string& command) {
  struct Closer {
    void operator()(std::FILE* f) const { pclose(f); }
  };
  std::unique_ptr<std::FILE, Closer> pipe(popen((command + " 2>&1").c_str(), "r"));
  if (!pipe) throw Error("cannot run sbatch", command, "sbatch on PATH");
  std::string out;
  std::array<char, 256> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe.get()) != nullptr) out += buffer.data();
  const int status = pclose(pipe.release());
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  if (status != 0 || out.empty() || out.find_first_not_of("0123456789;") != std::string::npos)
    throw Error("sbatch failed: " + out, command, "a reachable Slurm controller (sinfo works)");
  return out.substr(0, out.find(';'));
}

fs::path self_executable() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error("cannot find the rslicer executable", "/proc/self/exe", "a Linux /proc");
  return p;
}

}  // namespace

SlurmSweep launch_sweep_on_slurm(const std::string& command, const std::vector<std::vector<std::string>>& jobs,
                                 const YAML::Node& hydra, const fs::path& config_dir) {
  const YAML::Node slurm = hydra["launcher"]["slurm"];
  SlurmSweep sweep;
  sweep.sweep_dir = fs::absolute(hydra["sweep"]["dir"].as<std::string>());
  fs::create_directories(sweep.sweep_dir);
  const fs::path root = fs::absolute(config_dir).parent_path();  // launch/ and slurm/ sit beside configs/
  const fs::path bin = self_executable();

  std::string lines;
  for (const auto& job : jobs) {
    std::string line;
    for (const auto& o : job) line += (line.empty() ? "" : " ") + shell_quote(o);
    lines += line + "\n";
  }
  write_file_atomic(sweep.sweep_dir / "jobs.txt", lines);

  std::string header = fmt::format("#!/usr/bin/env bash\n#SBATCH --job-name=rslicer-{}-sweep\n", command);
  header += fmt::format("#SBATCH --array=0-{}{}\n", jobs.size() - 1,
                        setting(slurm, "max_parallel") != "0" ? "%" + setting(slurm, "max_parallel") : "");
  header += fmt::format("#SBATCH --nodes={}\n#SBATCH --ntasks-per-node={}\n#SBATCH --cpus-per-task={}\n",
                        setting(slurm, "nodes"), setting(slurm, "ntasks_per_node"), setting(slurm, "cpus_per_task"));
  if (setting(slurm, "gpus_per_node") != "0") header += "#SBATCH --gpus-per-node=" + setting(slurm, "gpus_per_node") + "\n";
  if (!setting(slurm, "partition").empty()) header += "#SBATCH --partition=" + setting(slurm, "partition") + "\n";
  header += "#SBATCH --time=" + setting(slurm, "time") + "\n";
  if (!setting(slurm, "signal").empty()) header += "#SBATCH --signal=" + setting(slurm, "signal") + "\n";
  if (slurm["requeue"].as<bool>()) header += "#SBATCH --requeue\n";
  for (const auto& extra : slurm["extra"]) header += "#SBATCH " + extra.as<std::string>() + "\n";
  header += fmt::format("#SBATCH --open-mode=append\n#SBATCH --output={}/%A_%a.out\n", sweep.sweep_dir.string());

  const bool pretrain = command == "pretrain";
  std::string body = fmt::format(
      "set -euo pipefail\n"
      "# Task N runs line N of jobs.txt; its run dir is named by the array job and task ids (stable across requeues).\n"
      "mapfile -t jobs < {sweep}/jobs.txt\n"
      "eval \"args=(${{jobs[$SLURM_ARRAY_TASK_ID]}})\"\n"
      "run_dir={sweep}/${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}\n"
      "{root}/launch/srun.sh {bin} {command} --config-dir {configs} \"${{args[@]}}\" hydra.run.dir=\"$run_dir\"{resume}\n",
      fmt::arg("sweep", shell_quote(sweep.sweep_dir.string())), fmt::arg("root", shell_quote(root.string())),
      fmt::arg("bin", shell_quote(bin.string())), fmt::arg("command", command),
      fmt::arg("configs", shell_quote(fs::absolute(config_dir).string())),
      fmt::arg("resume", pretrain ? " train.resume=auto" : ""));
  if (pretrain)
    body +=
        "# Stopped by the preemption signal before the end: requeue this task; it resumes from its checkpoint.\n"
        "if [[ ! -e $run_dir/final ]] && ((${SLURM_RESTART_COUNT:-0} < ${MAX_REQUEUES:-20})); then\n"
        "  scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\n"
        "fi\n";
  sweep.array_script = sweep.sweep_dir / "array.sbatch";
  write_file_atomic(sweep.array_script, header + body);

  sweep.collect_script = sweep.sweep_dir / "collect.sbatch";
  write_file_atomic(sweep.collect_script,
                    fmt::format("#!/usr/bin/env bash\n#SBATCH --job-name=rslicer-{}-collect\n#SBATCH --ntasks=1\n"
                                "#SBATCH --output={}/collect-%j.out\n/usr/bin/python3 {} {}\n",
                                command, sweep.sweep_dir.string(), shell_quote((root / "slurm" / "collect_sweep.py").string()),
                                shell_quote(sweep.sweep_dir.string())));

  const std::string submit_array = "sbatch --parsable " + shell_quote(sweep.array_script.string());
  if (!slurm["submit"].as<bool>()) {
    std::printf("sweep of %zu job(s) written to %s; submit with:\n  %s\n  sbatch --dependency=afterany:<array job id> %s\n",
                jobs.size(), sweep.sweep_dir.string().c_str(), submit_array.c_str(), sweep.collect_script.string().c_str());
    return sweep;
  }
  sweep.array_job_id = run_and_capture(submit_array);
  sweep.collect_job_id = run_and_capture("sbatch --parsable --dependency=afterany:" + sweep.array_job_id + " " +
                                         shell_quote(sweep.collect_script.string()));
  spdlog::info("submitted {} job(s) as Slurm array {} (collector {}); results: {}/results.md", jobs.size(),
               sweep.array_job_id, sweep.collect_job_id, sweep.sweep_dir.string());
  std::printf("%s\n", sweep.array_job_id.c_str());
  return sweep;
}

}  // namespace rslicer::cli
