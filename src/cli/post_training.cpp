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

#include "cli/post_training_config.h"
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

// K for the clustering: cluster.k, or the best over k_range by silhouette (k-means) or BIC (GMM) on up to 1500
// training windows, chosen on rank 0 and broadcast; `selection` gets every K's score. A chosen K is at most the
// windows over cluster.min_windows: a state needs that many windows for its models (tune.min_state_windows), and a
// state too small for them leaves its windows to the global model.
int choose_k(const ClusterConfig& c, const tuning::Matrix& train, const dist::MpiContext& mpi, nlohmann::json& selection) {
  int k = c.k;
  if (k == 0 && mpi.is_root()) {
    std::vector<std::size_t> sample;
    for (std::size_t i = 0; i < train.rows; i += std::max<std::size_t>(1, train.rows / 1500)) sample.push_back(i);
    tuning::Matrix x = train.select(sample);
    const std::int64_t k_max = std::min<std::int64_t>(
        {c.k_max, static_cast<std::int64_t>(x.rows), std::max<std::int64_t>(1, static_cast<std::int64_t>(train.rows) / c.min_windows)});
    const std::int64_t k_min = std::min(c.k_min, k_max);
    k = static_cast<int>(k_min);
    double best = -1e300;
    for (auto kk = k_min; k_min < k_max && kk <= k_max; ++kk) {  // one K allowed (k_min == k_max): nothing to score
      const double score = c.method == "gmm"
                               ? -tuning::gaussian_mixture(x, static_cast<int>(kk), c.seed).bic
                               : tuning::silhouette(x, tuning::kmeans(x, static_cast<int>(kk), c.seed).assignment);
      selection.push_back({{"k", kk}, {c.method == "gmm" ? "neg_bic" : "silhouette", score}});
      if (score > best) {
        best = score;
        k = static_cast<int>(kk);
      }
    }
  }
  return std::stoi(mpi.broadcast(std::to_string(k)));
}

// Data-parallel k-means: each rank holds a contiguous shard of the training rows, the seeds come from k-means++ on a
// strided sample every rank draws alike, and Lloyd's per-iteration sums are all-reduced.
tuning::Matrix kmeans_centroids(const tuning::Matrix& train, int k, std::uint64_t seed, const dist::MpiContext& mpi) {
  std::vector<std::size_t> sample, shard;
  for (std::size_t i = 0; i < train.rows; i += std::max<std::size_t>(1, train.rows / 20000)) sample.push_back(i);
  tuning::Matrix seeds = tuning::kmeans(train.select(sample), k, seed, /*max_iter=*/0).centroids;
  const auto world = static_cast<std::size_t>(mpi.world_size()), rank = static_cast<std::size_t>(mpi.rank());
  const std::size_t per = (train.rows + world - 1) / world;
  for (std::size_t i = per * rank; i < std::min(train.rows, per * (rank + 1)); ++i) shard.push_back(i);
  auto result = tuning::kmeans_from(train.select(shard), seeds, 100, [&](std::vector<double>& v) { mpi.allreduce_sum(v); });
  if (mpi.is_root())
    spdlog::info("k-means over {} rank(s): {} iterations, inertia {:.6g}", mpi.world_size(), result.iterations, result.inertia);
  return result.centroids;
}

// The clusters against the ground-truth workload regimes (simulated stores have them): NMI, ARI, purity.
void score_against_regimes(const tuning::EmbeddingSet& e, const std::vector<int>& assignment, const std::string& method,
                           int k, nlohmann::json& out) {
  std::vector<std::size_t> with_regime;
  for (std::size_t r = 0; r < e.size(); ++r)
    if (e.regime[r] >= 0) with_regime.push_back(r);
  if (with_regime.empty()) {
    spdlog::info("{} with k={} (no ground-truth regimes to score against)", method, k);
    return;
  }
  std::vector<int> truth = to_int(e.regime, with_regime), store = to_int(e.store, with_regime), predicted;
  for (auto r : with_regime) predicted.push_back(assignment[r]);
  // Each store has its own regimes: within_store scores how each store's windows cluster by its regimes, which the
  // NMI over all windows mixes with how the clusters tell the stores apart.
  out["regimes"] = {{"windows", with_regime.size()}, {"nmi", tuning::normalized_mutual_info(truth, predicted)},
                    {"nmi_within_store", tuning::normalized_mutual_info_within(truth, predicted, store)},
                    {"ari", tuning::adjusted_rand_index(truth, predicted)}, {"purity", tuning::purity(truth, predicted)}};
  spdlog::info("{} with k={}: against the ground-truth regimes NMI {:.3f} (within each store {:.3f}) ARI {:.3f} purity {:.3f}",
               method, k, out["regimes"]["nmi"].get<double>(), out["regimes"]["nmi_within_store"].get<double>(),
               out["regimes"]["ari"].get<double>(), out["regimes"]["purity"].get<double>());
}

// The training rows each set of states is found in: all of them together, or each system's apart
// (cluster.per_system: a state of one system is not one of another, and two systems' windows differ first by
// system), and of them all or those not labelled abnormal (cluster.windows=normal: the states of normal operation,
// a fault being a departure from one, which the state's models score). Groups in system-name order.
std::map<std::string, std::vector<std::size_t>> state_groups(const tuning::EmbeddingSet& e,
                                                             const std::vector<std::size_t>& train,
                                                             const ClusterConfig& c) {
  std::map<std::string, std::vector<std::size_t>> groups;
  for (auto r : train) {
    if (c.windows == "normal" && e.label[r] == 1) continue;
    groups[c.per_system ? e.systems.at(static_cast<std::size_t>(e.store[r])) : "all"].push_back(r);
  }
  const std::int64_t smallest_k = c.k > 0 ? c.k : 1;
  for (const auto& [name, rows] : groups)
    if (static_cast<std::int64_t>(rows.size()) < smallest_k)
      throw Error(fmt::format("{} training window(s) to find states in ({}, cluster.windows={})", rows.size(), name,
                              c.windows),
                  c.embeddings, fmt::format("at least {} (the smallest K)", smallest_k));
  if (groups.empty())
    throw Error("no training window to find states in (cluster.windows=" + c.windows + ")", c.embeddings,
                "a split whose training side holds windows");
  return groups;
}

// One group's centroids (every rank calls it: k-means is collective); `group` gets its K and the scores K was
// chosen by.
tuning::Matrix group_centroids(const ClusterConfig& c, const tuning::Matrix& train, const dist::MpiContext& mpi,
                               nlohmann::json& group) {
  nlohmann::json selection = nlohmann::json::array();
  const int k = choose_k(c, train, mpi, selection);
  group["k"] = k;
  group["selection"] = selection;
  if (c.method == "kmeans") return kmeans_centroids(train, k, c.seed, mpi);
  return mpi.is_root() ? tuning::gaussian_mixture(train, k, c.seed).means : tuning::Matrix{};
}

}  // namespace

// Under mpirun, k-means is data parallel, so the result is the same on any number of ranks (up to summation
// order). K selection and the GMM run on rank 0. The states of several groups (cluster.per_system) are their
// centroids together: a window's state is the nearest of them all.
void run_cluster(const JobContext& ctx) {
  const ClusterConfig c = read_cluster_config(ctx.cfg);
  const auto& mpi = ctx.mpi;
  auto e = tuning::EmbeddingSet::read(c.embeddings);
  auto split = tuning::split_rows(e, c.split);
  tuning::Matrix centroids(0, e.z.cols);
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& [name, rows] : state_groups(e, split.train, c)) {
    nlohmann::json group = {{"name", name}, {"windows", rows.size()}};
    const tuning::Matrix part = group_centroids(c, e.z.select(rows), mpi, group);
    centroids.data.insert(centroids.data.end(), part.data.begin(), part.data.end());
    centroids.rows += part.rows;
    groups.push_back(group);
  }
  if (!mpi.is_root()) return;
  auto assignment = tuning::assign_nearest(e.z, centroids);
  const int k = static_cast<int>(centroids.rows);
  nlohmann::json out = {{"method", c.method}, {"k", k}, {"windows", c.windows}, {"per_system", c.per_system},
                        {"groups", groups},
                        {"centroids", {{"rows", centroids.rows}, {"cols", centroids.cols}, {"data", centroids.data}}},
                        {"assignment", assignment}};
  if (groups.size() == 1) out["selection"] = groups[0]["selection"];
  score_against_regimes(e, assignment, c.method, k, out);
  write_file_atomic(c.out, out.dump());
  spdlog::info("wrote {}", c.out);
}

void run_tune(const JobContext& ctx) {
  if (!ctx.mpi.is_root()) return;
  const TuneConfig c = read_tune_config(ctx.cfg);
  auto e = tuning::EmbeddingSet::read(c.embeddings);
  auto clusters = read_json(c.clusters);
  tuning::Matrix centroids(clusters["centroids"]["rows"], clusters["centroids"]["cols"]);
  centroids.data = clusters["centroids"]["data"].get<std::vector<float>>();
  auto split = tuning::split_rows(e, c.split);
  auto models = tuning::fit_state_models(e, split.train, centroids, c.options);
  std::size_t own = 0;
  for (const auto& g : models.state_ad) own += !g.mean.empty();
  write_file_atomic(c.out, models.to_json().dump());
  spdlog::info("tuned {} states ({} with their own AD model, the rest use the global one) on {} training windows, "
               "{} fault types: {}",
               centroids.rows, own, split.train.size(), models.global_prototypes.size(), c.out);
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
nlohmann::json tsne_map(const std::string& embeddings, std::size_t max_points, tuning::TsneOptions o) {
  auto e = tuning::EmbeddingSet::read(embeddings);
  std::vector<std::size_t> index(e.z.rows);
  std::iota(index.begin(), index.end(), 0);
  if (index.size() > max_points) {
    std::mt19937_64 rng(o.seed);
    std::shuffle(index.begin(), index.end(), rng);
    index.resize(max_points);
    std::sort(index.begin(), index.end());
  }
  o.perplexity = std::min(o.perplexity, static_cast<double>(index.size()) - 1.0);
  auto r = tuning::tsne(e.z.select(index), o);
  nlohmann::json map = nlohmann::json::array();
  for (std::size_t i = 0; i < r.map.rows; ++i) map.push_back({r.map.row(i)[0], r.map.row(i)[1]});
  return {{"index", index}, {"map", map}, {"kl", r.kl_divergence}};
}

tuning::Evaluation evaluate_run(const EvaluateConfig::Run& run, const tuning::SplitOptions& split_options) {
  auto e = tuning::EmbeddingSet::read(run.embeddings);
  auto models = tuning::StateModels::from_json(read_json(run.models));
  auto split = tuning::split_rows(e, split_options);
  if (split.test.empty())
    throw Error("no test window (split=" + split_options.by + ")", run.embeddings,
                "a split that holds windows out: time, fault_time, system or store");
  auto result = tuning::evaluate(models, e, split.test);
  result.metrics["test_windows"] = split.test.size();
  result.metrics["train_windows"] = split.train.size();
  return result;
}

// Confusion matrix of the fault classification, by canonical type name.
nlohmann::json fc_confusion(const tuning::Evaluation& e) {
  std::map<std::pair<int, int>, int> confusion;
  for (std::size_t i = 0; i < e.true_fault_type.size(); ++i) confusion[{e.true_fault_type[i], e.predicted_fault_type[i]}]++;
  nlohmann::json cm = nlohmann::json::array();
  for (const auto& [k, n] : confusion)
    cm.push_back({{"true", data::canonical_fault_types().at(static_cast<std::size_t>(k.first))},
                  {"predicted", data::canonical_fault_types().at(static_cast<std::size_t>(k.second))}, {"count", n}});
  return cm;
}

std::string split_text(const tuning::SplitOptions& s) {
  if (s.by == "time") return fmt::format("the first {:.0f}% of each store trains", 100 * s.train_fraction);
  if (s.by == "fault_time")
    return fmt::format("each store cut where its fault number ceil({:.2f} x n) begins: earlier windows tune, later ones test",
                       s.train_fraction);
  if (s.by == "store") return "held-out stores: " + fmt::format("{}", fmt::join(s.test_stores, ", "));
  return "held out: " + fmt::format("{}", fmt::join(s.test_systems, ", "));
}

// report.md: the split, the results table (trained beside the baseline), regimes, per-event counts, the AD rule.
std::string report_markdown(const EvaluateConfig& c, const nlohmann::json& report, const tuning::Evaluation& trained,
                            const tuning::Evaluation* baseline) {
  std::string md = "# RuntimeSlicer evaluation\n\n";
  md += fmt::format("Split: by {} ({}). Test windows: {}, of which abnormal with a root cause: {}.\n\n", c.split.by,
                    split_text(c.split), trained.metrics["test_windows"].get<std::size_t>(),
                    trained.metrics["fl"]["windows"].get<std::size_t>());
  md += results_table(trained.metrics, baseline ? &baseline->metrics : nullptr);
  md += "\nThe published figures are the seed paper's Table 1 on AIOps 2022 (docs/design.md §8), another data set and "
        "protocol: shown for reference, not comparable number for number.\n";
  // "NMI a over all windows, b within each store" (clusters files without the second give the first alone).
  auto nmi_text = [](const nlohmann::json& regimes) {
    std::string text = fmt::format("NMI {:.3f} over all windows", regimes["nmi"].get<double>());
    if (regimes.contains("nmi_within_store"))
      text += fmt::format(", {:.3f} within each store", regimes["nmi_within_store"].get<double>());
    return text;
  };
  if (report["trained"].contains("regimes"))
    md += fmt::format("\nState clusters against ground-truth workload regimes: {} (trained){}.\n",
                      nmi_text(report["trained"]["regimes"]),
                      report.contains("baseline") && report["baseline"].contains("regimes")
                          ? fmt::format("; {} (untrained baseline)", nmi_text(report["baseline"]["regimes"]))
                          : "");
  md += fmt::format("\nFL per event: {} fault events, each ranked once from its test windows. FL discounts a pod by "
                    "the move of the pods it calls (tune.fl_callee_discount {}; {} service calls in the stores' "
                    "traces). FC: {} test windows of {} fault type(s) absent from tuning are unseen and not scored.\n",
                    trained.metrics["fl"]["events"]["events"].get<std::size_t>(),
                    trained.metrics["fl"]["callee_discount"].get<double>(),
                    trained.metrics["fl"]["call_graph_calls"].get<std::size_t>(),
                    trained.metrics["fc"]["unseen_windows"].get<std::size_t>(),
                    trained.metrics["fc"]["unseen_types"].get<std::size_t>());
  // The AD rule as rslicer tune fitted it (models.json's options, echoed by the evaluation).
  const nlohmann::json& rule = trained.metrics["ad"]["rule"];
  const auto history_windows = rule["history_windows"].get<std::size_t>();
  md += "\nAD threshold rule: the Mahalanobis score of z under its state's Gaussian (the global one for states with "
        "fewer than " + std::to_string(rule["min_state_windows"].get<std::size_t>()) +
        " normal tuning windows), as a robust z against the store's previous " + std::to_string(history_windows) +
        " windows; flagged above " +
        (rule["threshold"] == "f1" ? std::string("the threshold that maximises F1 on the tuning split")
                                   : fmt::format("the {} quantile of the tuning split's normal windows",
                                                 rule["quantile"].get<double>())) +
        ". AUROC/AUPRC need no threshold; the oracle F1 uses the best threshold on the test split itself (a "
        "ceiling, not a rule).\n";
  const auto own_history = trained.metrics["ad"]["own_history_windows"].get<std::size_t>();
  if (own_history > 0)
    md += fmt::format("{} test windows belong to stores without tuning windows (tune.ad_reference): they are scored "
                      "against their own store's previous {} windows (the cosine distance of z to their median, as a "
                      "robust z), not by the tuning stores' Gaussians.\n",
                      own_history, history_windows);
  return md;
}

// The plots' inputs (t-SNE maps of z, trained beside baseline; the confusion matrix) and the plots themselves,
// drawn by scripts/plot_report.py.
void write_plots(const EvaluateConfig& c, const nlohmann::json& confusion, const fs::path& out) {
  nlohmann::json plot = {{"out_dir", out.string()},
                         {"trained", {{"embeddings", c.trained.embeddings}, {"clusters", c.trained.clusters.value_or("")}}},
                         {"confusion", confusion}};
  if (c.baseline)
    plot["baseline"] = {{"embeddings", c.baseline->embeddings}, {"clusters", c.baseline->clusters.value_or("")}};
  if (c.plots) {
    plot["trained"]["tsne"] = tsne_map(c.trained.embeddings, c.tsne_max_points, c.tsne);
    if (c.baseline) plot["baseline"]["tsne"] = tsne_map(c.baseline->embeddings, c.tsne_max_points, c.tsne);
  }
  write_file_atomic(out / "plot_inputs.json", plot.dump());
  const std::string script = std::string(RSLICER_SOURCE_DIR_CLI) + "/scripts/plot_report.py";
  if (c.plots && std::system(("/usr/bin/python3 '" + script + "' '" + (out / "plot_inputs.json").string() + "'").c_str()) != 0)
    spdlog::warn("plots not made: /usr/bin/python3 {} failed (needs python3-h5py and python3-matplotlib)", script);
}

}  // namespace

void run_evaluate(const JobContext& ctx) {
  if (!ctx.mpi.is_root()) return;
  const EvaluateConfig c = read_evaluate_config(ctx.cfg);
  const tuning::Evaluation trained = evaluate_run(c.trained, c.split);
  nlohmann::json report = {{"split", {{"by", c.split.by}, {"train_fraction", c.split.train_fraction},
                                      {"test_systems", c.split.test_systems}, {"test_stores", c.split.test_stores}}},
                           {"trained", trained.metrics}};
  std::optional<tuning::Evaluation> baseline;
  if (c.baseline) report["baseline"] = baseline.emplace(evaluate_run(*c.baseline, c.split)).metrics;
  for (const auto& [run, key] : {std::pair{&c.trained, "trained"}, std::pair{c.baseline ? &*c.baseline : nullptr, "baseline"}}) {
    if (!run || !run->clusters) continue;
    auto clusters = read_json(*run->clusters);
    if (clusters.contains("regimes")) report[key]["regimes"] = clusters["regimes"];
  }
  const nlohmann::json confusion = fc_confusion(trained);
  report["trained"]["confusion"] = confusion;

  const fs::path out = ctx.run_dir;
  write_file_atomic(out / "report.json", report.dump(2));
  write_file_atomic(out / "report.md", report_markdown(c, report, trained, baseline ? &*baseline : nullptr));
  write_plots(c, confusion, out);
  std::printf("%s\n", results_table(trained.metrics, baseline ? &baseline->metrics : nullptr).c_str());
  spdlog::info("report: {}, {}, plots: {}", (out / "report.md").string(), (out / "report.json").string(), out.string());
}

}  // namespace rslicer::cli
