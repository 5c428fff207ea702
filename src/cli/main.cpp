// rslicer: one binary, one subcommand per pipeline stage. Errors become one line and an exit code here only:
// 0 ok, 1 runtime error, 2 usage or configuration error.
#include <CLI/CLI.hpp>

#include <iostream>
#include <map>
#include <memory>

#include "cli/commands.h"
#include "cli/hydra_runner.h"
#include "cli/inspect_command.h"
#include "cli/tokenize_command.h"
#include "core/blas_kernel.h"
#include "core/error.h"
#include "core/log.h"
#include "dist/mpi_context.h"
#include "train/device.h"

namespace {

using rslicer::ExitCode;

int usage_error(const std::string& what, const std::string& command) {
  std::cerr << "error: " << what << ", command line, see 'rslicer " << command << "--help'" << std::endl;
  return static_cast<int>(ExitCode::usage);
}

int run(int argc, char** argv, const rslicer::dist::MpiContext& mpi, const rslicer::BlasKernel& blas) {
  CLI::App app{"RuntimeSlicer: system-state embeddings from metrics, traces and logs, trained on HPC clusters"};
  app.require_subcommand(1);
  app.set_version_flag("--version", [&blas] {
    const std::string cuda = rslicer::train::cuda_training_built() ? "on" : "off (" + rslicer::train::cuda_training_reason() + ")";
    return "rslicer 0.1.0\n" + blas.describe() + "\nCUDA training: " + cuda;
  });

  std::map<std::string, rslicer::cli::HydraArgs> hydra_args;
  std::vector<std::pair<CLI::App*, rslicer::cli::ConfiguredCommand>> configured;
  for (auto& command : rslicer::cli::configured_commands()) {
    auto& args = hydra_args[command.name];
    CLI::App* sub = app.add_subcommand(command.name, command.help);
    sub->add_option("overrides", args.overrides,
                    "Hydra-style overrides: key=value, group=option, +key=value, ++key=value, ~key; "
                    "with -m: a=1,2 range(0,3) choice(a,b) glob(*)");
    sub->add_flag("-m,--multirun", args.multirun, "Run one job per combination of the sweep overrides");
    sub->add_option("--cfg", args.cfg, "Print the composed config (job, hydra or all) and exit");
    sub->add_flag("--info", args.info, "List config groups and their options, and exit");
    sub->add_option("--config-dir", args.config_dir, "Config directory (default: RSLICER_CONFIG_DIR or configs/)");
    sub->add_option("--config-name", args.config_name, "Primary config name (default: the subcommand's name)");
    sub->footer("Config: configs/" + command.name + ".yaml and its defaults list. Run dir: outputs/<date>/<time>/.");
    configured.emplace_back(sub, command);
  }

  rslicer::cli::InspectArgs inspect_args;
  CLI::App* inspect = app.add_subcommand("inspect", "Summarise a window store (or show a window's events)");
  inspect->add_option("store", inspect_args.store, "Window store (.h5)")->required();
  inspect->add_flag("--json", inspect_args.json, "Machine-readable output");
  inspect->add_option("--window", inspect_args.window, "Show the events of this window index");
  inspect->add_option("--serialize", inspect_args.serialize, "Show the texts the model reads for this window");
  inspect->add_option("--tokenizer", inspect_args.tokenizer, "tokenizer.json for --serialize");
  inspect->add_option("--max-tokens", inspect_args.max_tokens, "Token budget per modality for --serialize");
  inspect->add_option("--component", inspect_args.component,
                      "With --serialize: one pod's texts, as failure localization embeds them (a component name)");
  inspect->add_flag("--caller-wait", inspect_args.caller_wait,
                    "With --serialize: trace edges with the caller's wait, as serializer.caller_wait shows them");
  inspect->add_flag("--sample-gaps", inspect_args.sample_gaps,
                    "With --serialize: \"missing samples\" for a component reporting fewer samples than usual, as "
                    "serializer.sample_gaps shows it");
  inspect->add_option("--system-kpis", inspect_args.system_kpis,
                      "With --serialize: the system's move on this many KPIs first, as serializer.system_kpis shows it");
  inspect->add_option("--tuning-windows", inspect_args.tuning_windows,
                      "With --serialize: the store's first N windows are its tuning side, and a metric's z is against "
                      "their normal windows (serializer.metric_baseline=tuning_normal); 0: all windows, labels unread");

  rslicer::cli::TokenizeArgs tokenize_args;
  CLI::App* tokenize = app.add_subcommand("tokenize", "Tokenize stdin lines with the Qwen3 tokenizer (ids per line)");
  tokenize->add_option("tokenizer", tokenize_args.tokenizer, "tokenizer=PATH (tokenizer.json or its directory)");
  tokenize->add_flag("--special", tokenize_args.special, "Add the post-processor's special tokens");
  tokenize->add_flag("--embedding", tokenize_args.embedding, "As for embedding: <|endoftext|> last");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return mpi.is_root() ? app.exit(e) : 0;
  } catch (const CLI::CallForAllHelp& e) {
    return mpi.is_root() ? app.exit(e) : 0;
  } catch (const CLI::CallForVersion& e) {
    return mpi.is_root() ? app.exit(e) : 0;
  } catch (const CLI::ParseError& e) {
    std::string sub;
    for (auto* s : app.get_subcommands()) sub = s->get_name() + " ";
    return mpi.is_root() ? usage_error(e.what(), sub) : static_cast<int>(ExitCode::usage);
  }

  if (tokenize->parsed()) return mpi.is_root() ? rslicer::cli::run_tokenize(tokenize_args) : 0;
  if (inspect->parsed()) return mpi.is_root() ? rslicer::cli::run_inspect(inspect_args) : 0;
  for (auto& [sub, command] : configured)
    if (sub->parsed()) return rslicer::cli::run_configured(command, hydra_args[command.name], mpi);
  return usage_error("no subcommand", "");
}

}  // namespace

int main(int argc, char** argv) {
  // Before MPI and threads: it may execute the program again (see core/blas_kernel.h).
  const rslicer::BlasKernel blas = rslicer::select_blas_kernel(argv);
  std::unique_ptr<rslicer::dist::MpiContext> mpi;
  try {
    mpi = std::make_unique<rslicer::dist::MpiContext>(&argc, &argv);
    rslicer::init_logging({mpi->rank(), mpi->world_size(), "info", false});
    return run(argc, argv, *mpi, blas);
  } catch (const rslicer::Error& e) {
    std::cerr << e.one_line() << std::endl;
    // A failure on one rank only: the others may be waiting in a collective, so end the whole job.
    if (mpi && mpi->world_size() > 1) mpi->abort(static_cast<int>(e.exit_code()));
    return static_cast<int>(e.exit_code());
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << ", rslicer (internal), a report of this message" << std::endl;
    if (mpi && mpi->world_size() > 1) mpi->abort(static_cast<int>(ExitCode::runtime));
    return static_cast<int>(ExitCode::runtime);
  }
}
