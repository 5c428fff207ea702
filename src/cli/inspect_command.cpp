#include "cli/inspect_command.h"

#include <fmt/format.h>

#include <iostream>

#include "core/error.h"
#include "data/store_summary.h"
#include "data/serializer.h"
#include "data/time_parse.h"
#include "data/tokenizer.h"

namespace rslicer::cli {

namespace {
void print_window(const data::WindowStoreReader& store, std::size_t index, bool json) {
  const data::Window& w = store.windows().at(index);
  data::WindowData d = store.read_window(index);
  nlohmann::json j;
  j["index"] = index;
  j["begin"] = data::format_utc(w.begin_ns);
  j["end"] = data::format_utc(w.end_ns);
  j["label"] = w.label;
  j["fault"] = w.fault >= 0 ? store.fault_types().at(store.faults().at(w.fault).type) : "";
  j["modality_mask"] = w.modality_mask;
  j["metrics"] = d.metrics.size();
  j["spans"] = d.spans.size();
  j["logs"] = d.logs.size();
  if (json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << fmt::format("window {} [{} .. {}) label {} {} mask {}: {} metric samples, {} spans, {} log records\n",
                           index, j["begin"].get<std::string>(), j["end"].get<std::string>(), w.label,
                           j["fault"].get<std::string>(), w.modality_mask, d.metrics.size(), d.spans.size(),
                           d.logs.size());
}
}  // namespace

std::int32_t component_id(const data::WindowStoreReader& store, const std::string& name) {
  for (const auto& c : store.components())
    if (c.name == name) return c.id;
  throw Error("no component named '" + name + "'", store.path().string(),
              "a component of the store (rslicer inspect " + store.path().string() + " --json lists them)");
}

int run_inspect(const InspectArgs& args) {
  data::WindowStoreReader store(args.store);
  if (args.serialize >= 0) {
    if (static_cast<std::size_t>(args.serialize) >= store.windows().size())
      throw Error("window " + std::to_string(args.serialize) + " does not exist", args.store,
                  "an index below " + std::to_string(store.windows().size()));
    const auto tok = data::Tokenizer::from_file(args.tokenizer.empty() ? data::default_tokenizer_path()
                                                                        : std::filesystem::path(args.tokenizer));
    data::SerializerOptions shown;
    shown.max_tokens = args.max_tokens;
    shown.caller_wait = args.caller_wait;
    shown.sample_gaps = args.sample_gaps;
    shown.system_kpis = args.system_kpis;
    if (args.tuning_windows > 0) shown.metric_baseline = "tuning_normal";
    data::WindowSerializer serializer(store, tok, shown, args.tuning_windows);
    const auto index = static_cast<std::size_t>(args.serialize);
    const auto& window = store.windows()[index];
    auto texts = args.component.empty()
                     ? serializer.serialize(window, store.read_window(index))
                     : serializer.serialize_component(window, store.read_window(index), component_id(store, args.component));
    for (const auto* t : {&texts.metrics, &texts.traces, &texts.logs})
      std::cout << *t << "(" << tok.encode_for_embedding(*t, 0).size() << " tokens with <|endoftext|>)\n\n";
    return 0;
  }
  if (args.window >= 0) {
    if (static_cast<std::size_t>(args.window) >= store.windows().size())
      throw Error("window " + std::to_string(args.window) + " does not exist", args.store,
                  "an index below " + std::to_string(store.windows().size()));
    print_window(store, static_cast<std::size_t>(args.window), args.json);
    return 0;
  }
  auto summary = data::summarize_store(store);
  std::cout << (args.json ? summary.dump(2) + "\n" : data::render_summary(summary));
  return 0;
}

}  // namespace rslicer::cli
