#include "cli/post_training.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <numeric>
#include <random>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/fault_types.h"
#include "dist/mpi_context.h"
#include "tuning/clustering.h"
#include "tuning/metrics.h"
#include "tuning/state_models.h"
#include "tuning/tsne.h"

namespace fs = std::filesystem;

namespace rslicer::cli {

using tuning::split_options;

namespace {

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read", path.string(), "a file written by an earlier rslicer stage");
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) throw Error("not valid JSON", path.string(), "a file written by an earlier rslicer stage");
  return j;
}

std::vector<int> to_int(const std::vector<std::int32_t>& v, const std::vector<std::size_t>& rows) {
  std::vector<int> out;
  for (auto r : rows) out.push_back(v[r]);
  return out;
}

}  // namespace

// Under mpirun, k-means is data parallel: each rank holds a contiguous shard of the training rows, the seeds come
// from k-means++ on a strided sample every rank draws alike, and Lloyd's per-iteration sums are all-reduced, so the
// result is the same on any number of ranks (up to summation order). K selection and the GMM run on rank 0.
void run_cluster(const JobContext& ctx) {
  const auto& cfg = ctx.cfg;
  const auto& mpi = ctx.mpi;
  auto e = tuning::EmbeddingSet::read(cfg.get_string("embeddings"));
  auto split = tuning::split_rows(e, split_options(cfg));
  tuning::Matrix train = e.z.select(split.train);
  const std::string method = cfg.get_string("cluster.method");
  const auto seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  int k = cfg.is_null("cluster.k") ? 0 : static_cast<int>(cfg.get_int("cluster.k"));
  nlohmann::json selection = nlohmann::json::array();
  if (k == 0 && mpi.is_root()) {  // choose K: silhouette (k-means) or BIC (GMM) over the range, on up to 1500 training windows
    auto range = cfg.get_int_list("cluster.k_range");
    std::vector<std::size_t> sample;
    for (std::size_t i = 0; i < train.rows; i += std::max<std::size_t>(1, train.rows / 1500)) sample.push_back(i);
    tuning::Matrix x = train.select(sample);
    double best = -1e300;
    for (auto kk = range.at(0); kk <= range.at(1) && kk <= static_cast<std::int64_t>(x.rows); ++kk) {
      double score = 0;
      if (method == "gmm") {
        score = -tuning::gaussian_mixture(x, static_cast<int>(kk), seed).bic;
      } else {
        score = tuning::silhouette(x, tuning::kmeans(x, static_cast<int>(kk), seed).assignment);
      }
      selection.push_back({{"k", kk}, {method == "gmm" ? "neg_bic" : "silhouette", score}});
      if (score > best) {
        best = score;
        k = static_cast<int>(kk);
      }
    }
  }
  k = std::stoi(mpi.broadcast(std::to_string(k)));
  if (method != "kmeans" && method != "gmm")
    throw ConfigError("unknown method '" + method + "'", "cluster.method", "kmeans or gmm");
  tuning::Matrix centroids;
  if (method == "kmeans") {
    std::vector<std::size_t> sample, shard;
    for (std::size_t i = 0; i < train.rows; i += std::max<std::size_t>(1, train.rows / 20000)) sample.push_back(i);
    tuning::Matrix seeds = tuning::kmeans(train.select(sample), k, seed, /*max_iter=*/0).centroids;
    const std::size_t per = (train.rows + static_cast<std::size_t>(mpi.world_size()) - 1) / static_cast<std::size_t>(mpi.world_size());
    for (std::size_t i = per * static_cast<std::size_t>(mpi.rank()); i < std::min(train.rows, per * static_cast<std::size_t>(mpi.rank() + 1)); ++i)
      shard.push_back(i);
    auto result = tuning::kmeans_from(train.select(shard), seeds, 100, [&](std::vector<double>& v) { mpi.allreduce_sum(v); });
    centroids = result.centroids;
    if (mpi.is_root())
      spdlog::info("k-means over {} rank(s): {} iterations, inertia {:.6g}", mpi.world_size(), result.iterations, result.inertia);
  }
  if (!mpi.is_root()) return;
  if (method == "gmm") centroids = tuning::gaussian_mixture(train, k, seed).means;
  auto assignment = tuning::assign_nearest(e.z, centroids);
  nlohmann::json out = {{"method", method}, {"k", k}, {"selection", selection},
                        {"centroids", {{"rows", centroids.rows}, {"cols", centroids.cols}, {"data", centroids.data}}},
                        {"assignment", assignment}};
  std::vector<std::size_t> with_regime;
  for (std::size_t r = 0; r < e.size(); ++r)
    if (e.regime[r] >= 0) with_regime.push_back(r);
  if (!with_regime.empty()) {
    std::vector<int> truth = to_int(e.regime, with_regime), predicted;
    for (auto r : with_regime) predicted.push_back(assignment[r]);
    out["regimes"] = {{"windows", with_regime.size()}, {"nmi", tuning::normalized_mutual_info(truth, predicted)},
                      {"ari", tuning::adjusted_rand_index(truth, predicted)}, {"purity", tuning::purity(truth, predicted)}};
    spdlog::info("{} with k={}: against the ground-truth regimes NMI {:.3f} ARI {:.3f} purity {:.3f}", method, k,
                 out["regimes"]["nmi"].get<double>(), out["regimes"]["ari"].get<double>(), out["regimes"]["purity"].get<double>());
  } else {
    spdlog::info("{} with k={} (no ground-truth regimes to score against)", method, k);
  }
  write_file_atomic(cfg.get_string("out"), out.dump());
  spdlog::info("wrote {}", cfg.get_string("out"));
}

void run_tune(const JobContext& ctx) {
  if (!ctx.mpi.is_root()) return;
  const auto& cfg = ctx.cfg;
  auto e = tuning::EmbeddingSet::read(cfg.get_string("embeddings"));
  auto clusters = read_json(cfg.get_string("clusters"));
  tuning::Matrix centroids(clusters["centroids"]["rows"], clusters["centroids"]["cols"]);
  centroids.data = clusters["centroids"]["data"].get<std::vector<float>>();
  auto split = tuning::split_rows(e, split_options(cfg));
  tuning::TuneOptions o;
  o.shrinkage = cfg.get_double("tune.shrinkage");
  o.quantile = cfg.get_double("tune.quantile");
  o.min_state_windows = static_cast<std::size_t>(cfg.get_int("tune.min_state_windows"));
  o.history_windows = static_cast<std::size_t>(cfg.get_int("tune.history_windows"));
  o.reference_windows = static_cast<std::size_t>(cfg.get_int("tune.reference_windows"));
  o.threshold = cfg.get_string("tune.threshold");
  o.fc_signature = cfg.get_string("tune.fc_signature");
  if (o.fc_signature != "culprit" && o.fc_signature != "state_and_culprit")
    throw ConfigError("unknown FC signature '" + o.fc_signature + "'", "tune.fc_signature", "culprit or state_and_culprit");
  auto models = tuning::fit_state_models(e, split.train, centroids, o);
  std::size_t own = 0;
  for (const auto& g : models.state_ad) own += !g.mean.empty();
  write_file_atomic(cfg.get_string("out"), models.to_json().dump());
  spdlog::info("tuned {} states ({} with their own AD model, the rest use the global one) on {} training windows, "
               "{} fault types: {}",
               centroids.rows, own, split.train.size(), models.global_prototypes.size(), cfg.get_string("out"));
}

namespace {

std::string pct(const nlohmann::json& v) { return fmt::format("{:.2f}", 100.0 * v.get<double>()); }

std::string results_table(const nlohmann::json& trained, const nlohmann::json* baseline) {
  std::string s = "| task | metric | trained |" + std::string(baseline ? " untrained baseline |" : "") + " published (AIOps 2022) |\n";
  s += "|---|---|---|" + std::string(baseline ? "---|" : "") + "---|\n";
  auto row = [&](const std::string& task, const std::string& metric, const nlohmann::json::json_pointer& p,
                 const std::string& published) {
    s += "| " + task + " | " + metric + " | " + pct(trained[p]) + " |" + (baseline ? " " + pct((*baseline)[p]) + " |" : "") +
         " " + published + " |\n";
  };
  using P = nlohmann::json::json_pointer;
  row("anomaly detection (per window)", "precision", P("/ad/precision"), "97.27");
  row("anomaly detection (per window)", "recall", P("/ad/recall"), "81.18");
  row("anomaly detection (per window)", "F1", P("/ad/f1"), "88.50");
  row("anomaly detection (per window)", "AUROC", P("/ad/auroc"), "-");
  row("anomaly detection (per window)", "AUPRC", P("/ad/auprc"), "-");
  row("anomaly detection (per window)", "F1 at the oracle threshold (ceiling)", P("/ad/oracle_f1"), "-");
  row("anomaly detection (per window)", "share of windows flagged", P("/ad/flagged_share"), "-");
  row("anomaly detection (per event)", "recall", P("/ad/event_recall"), "-");
  row("failure localization (pod, per window)", "Top-1", P("/fl/pod/top1"), "-");
  row("failure localization (pod, per window)", "Top-3", P("/fl/pod/top3"), "-");
  row("failure localization (pod, per window)", "Top-5", P("/fl/pod/top5"), "-");
  row("failure localization (pod, per window)", "MRR", P("/fl/pod/mrr"), "70.15");
  row("failure localization (service, per window)", "Top-1", P("/fl/service/top1"), "-");
  row("failure localization (service, per window)", "MRR", P("/fl/service/mrr"), "-");
  row("failure localization (service, per event)", "AS@1", P("/fl/events/service/as1"), "-");
  row("failure localization (service, per event)", "AS@3", P("/fl/events/service/as3"), "-");
  row("failure localization (service, per event)", "AS@5", P("/fl/events/service/as5"), "-");
  row("failure localization (pod, per event)", "AS@1", P("/fl/events/pod/as1"), "-");
  row("failure localization (pod, per event)", "MRR", P("/fl/events/pod/mrr"), "-");
  row("failure classification (types seen in tuning)", "macro precision", P("/fc/precision"), "87.57");
  row("failure classification (types seen in tuning)", "macro recall", P("/fc/recall"), "75.12");
  row("failure classification (types seen in tuning)", "macro F1", P("/fc/f1"), "80.88");
  row("failure classification (types seen in tuning)", "MRR", P("/fc/mrr"), "83.35");
  row("failure classification (per event)", "macro F1", P("/fc/events/f1"), "-");
  row("failure classification (per event)", "MRR", P("/fc/events/mrr"), "-");
  return s;
}

}  // namespace

namespace {

// The 2-D t-SNE map of an embeddings file's state embeddings (a seeded subsample of at most `max_points`
// windows): {"index": rows of the file, "map": [[x, y], ...], "kl": KL divergence}.
nlohmann::json tsne_map(const std::string& embeddings, const config::Config& cfg) {
  auto e = tuning::EmbeddingSet::read(embeddings);
  std::vector<std::size_t> index(e.z.rows);
  std::iota(index.begin(), index.end(), 0);
  const auto max_points = static_cast<std::size_t>(cfg.get_int("tsne.max_points"));
  if (index.size() > max_points) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(cfg.get_int("seed")));
    std::shuffle(index.begin(), index.end(), rng);
    index.resize(max_points);
    std::sort(index.begin(), index.end());
  }
  tuning::TsneOptions o;
  o.perplexity = std::min(cfg.get_double("tsne.perplexity"), static_cast<double>(index.size()) - 1.0);
  o.iterations = static_cast<int>(cfg.get_int("tsne.iterations"));
  o.seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  auto r = tuning::tsne(e.z.select(index), o);
  nlohmann::json map = nlohmann::json::array();
  for (std::size_t i = 0; i < r.map.rows; ++i) map.push_back({r.map.row(i)[0], r.map.row(i)[1]});
  return {{"index", index}, {"map", map}, {"kl", r.kl_divergence}};
}

}  // namespace

void run_evaluate(const JobContext& ctx) {
  if (!ctx.mpi.is_root()) return;
  const auto& cfg = ctx.cfg;
  auto split_opts = split_options(cfg);
  auto evaluate_one = [&](const std::string& embeddings, const std::string& models_path) {
    auto e = tuning::EmbeddingSet::read(embeddings);
    auto models = tuning::StateModels::from_json(read_json(models_path));
    auto split = tuning::split_rows(e, split_opts);
    auto result = tuning::evaluate(models, e, split.test);
    result.metrics["test_windows"] = split.test.size();
    result.metrics["train_windows"] = split.train.size();
    return result;
  };
  auto trained = evaluate_one(cfg.get_string("embeddings"), cfg.get_string("models"));
  nlohmann::json report = {{"split", {{"by", split_opts.by}, {"train_fraction", split_opts.train_fraction},
                                      {"test_systems", split_opts.test_systems},
                                      {"test_stores", split_opts.test_stores}}},
                           {"trained", trained.metrics}};
  std::unique_ptr<tuning::Evaluation> baseline;
  if (!cfg.is_null("baseline.embeddings")) {
    baseline = std::make_unique<tuning::Evaluation>(
        evaluate_one(cfg.get_string("baseline.embeddings"), cfg.get_string("baseline.models")));
    report["baseline"] = baseline->metrics;
  }
  for (const char* key : {"clusters", "baseline.clusters"}) {
    if (cfg.is_null(key)) continue;
    auto c = read_json(cfg.get_string(key));
    if (c.contains("regimes")) report[std::string(key) == "clusters" ? "trained" : "baseline"]["regimes"] = c["regimes"];
  }
  // Confusion matrix of the fault classification (trained), by canonical type name.
  std::map<std::pair<int, int>, int> confusion;
  for (std::size_t i = 0; i < trained.true_fault_type.size(); ++i)
    confusion[{trained.true_fault_type[i], trained.predicted_fault_type[i]}]++;
  nlohmann::json cm = nlohmann::json::array();
  for (const auto& [k, n] : confusion)
    cm.push_back({{"true", data::canonical_fault_types().at(static_cast<std::size_t>(k.first))},
                  {"predicted", data::canonical_fault_types().at(static_cast<std::size_t>(k.second))}, {"count", n}});
  report["trained"]["confusion"] = cm;

  const fs::path out = ctx.run_dir;
  write_file_atomic(out / "report.json", report.dump(2));
  std::string md = "# RuntimeSlicer evaluation\n\n";
  md += fmt::format("Split: by {} ({}). Test windows: {}, of which abnormal with a root cause: {}.\n\n", split_opts.by,
                    split_opts.by == "time"
                        ? fmt::format("the first {:.0f}% of each store trains", 100 * split_opts.train_fraction)
                    : split_opts.by == "fault_time"
                        ? fmt::format("each store cut where its fault number ceil({:.2f} x n) begins: earlier windows tune, later ones test",
                                      split_opts.train_fraction)
                    : split_opts.by == "store"
                        ? "held-out stores: " + fmt::format("{}", fmt::join(split_opts.test_stores, ", "))
                        : "held out: " + fmt::format("{}", fmt::join(split_opts.test_systems, ", ")),
                    trained.metrics["test_windows"].get<std::size_t>(), trained.metrics["fl"]["windows"].get<std::size_t>());
  md += results_table(trained.metrics, baseline ? &baseline->metrics : nullptr);
  md += "\nThe published figures are the seed paper's Table 1 on AIOps 2022 (docs/design.md §8), another data set and "
        "protocol: shown for reference, not comparable number for number.\n";
  if (report["trained"].contains("regimes"))
    md += fmt::format("\nState clusters against ground-truth workload regimes: NMI {:.3f} (trained){}.\n",
                      report["trained"]["regimes"]["nmi"].get<double>(),
                      report.contains("baseline") && report["baseline"].contains("regimes")
                          ? fmt::format(" vs {:.3f} (untrained baseline)", report["baseline"]["regimes"]["nmi"].get<double>())
                          : "");
  md += fmt::format("\nFL per event: {} fault events, each ranked once from its test windows. FC: {} test windows "
                    "of {} fault type(s) absent from tuning are unseen and not scored.\n",
                    trained.metrics["fl"]["events"]["events"].get<std::size_t>(),
                    trained.metrics["fc"]["unseen_windows"].get<std::size_t>(),
                    trained.metrics["fc"]["unseen_types"].get<std::size_t>());
  md += "\nAD threshold rule: the Mahalanobis score of z under its state's Gaussian (the global one for states with "
        "fewer than " + std::to_string(cfg.get_int("tune.min_state_windows")) +
        " normal tuning windows), as a robust z against the store's previous " +
        std::to_string(cfg.get_int("tune.history_windows")) +
        " windows; flagged above " +
        (cfg.get_string("tune.threshold") == "f1"
             ? std::string("the threshold that maximises F1 on the tuning split")
             : fmt::format("the {} quantile of the tuning split's normal windows", cfg.get_double("tune.quantile"))) +
        ". AUROC/AUPRC need no threshold; the oracle F1 uses the best threshold on the test split itself (a "
        "ceiling, not a rule).\n";
  write_file_atomic(out / "report.md", md);

  // Plots (t-SNE of z coloured by cluster and by label, trained beside baseline; confusion matrix).
  nlohmann::json plot = {{"out_dir", out.string()},
                         {"trained", {{"embeddings", cfg.get_string("embeddings")},
                                      {"clusters", cfg.is_null("clusters") ? "" : cfg.get_string("clusters")}}},
                         {"confusion", cm}};
  if (baseline)
    plot["baseline"] = {{"embeddings", cfg.get_string("baseline.embeddings")},
                        {"clusters", cfg.is_null("baseline.clusters") ? "" : cfg.get_string("baseline.clusters")}};
  if (cfg.get_bool("plots")) {
    plot["trained"]["tsne"] = tsne_map(cfg.get_string("embeddings"), cfg);
    if (baseline) plot["baseline"]["tsne"] = tsne_map(cfg.get_string("baseline.embeddings"), cfg);
  }
  write_file_atomic(out / "plot_inputs.json", plot.dump());
  const std::string script = std::string(RSLICER_SOURCE_DIR_CLI) + "/scripts/plot_report.py";
  if (cfg.get_bool("plots") && std::system(("/usr/bin/python3 '" + script + "' '" + (out / "plot_inputs.json").string() + "'").c_str()) != 0)
    spdlog::warn("plots not made: /usr/bin/python3 {} failed (needs python3-h5py and python3-matplotlib)", script);
  std::printf("%s\n", results_table(trained.metrics, baseline ? &baseline->metrics : nullptr).c_str());
  spdlog::info("report: {}, {}, plots: {}", (out / "report.md").string(), (out / "report.json").string(), out.string());
}

}  // namespace rslicer::cli
