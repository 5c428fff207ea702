#include "data/drain.h"

#include <cctype>

namespace rslicer::data {

namespace {
const std::string kWildcard = "<*>";

bool has_digit(const std::string& token) {
  for (char c : token)
    if (std::isdigit(static_cast<unsigned char>(c))) return true;
  return false;
}
}  // namespace

DrainParser::DrainParser() : DrainParser(Options{}) {}

DrainParser::DrainParser(Options options) : options_(options) { nodes_.emplace_back(); }

std::vector<std::string> DrainParser::tokenize(std::string_view message) {
  std::vector<std::string> tokens;
  std::size_t i = 0;
  while (i < message.size()) {
    while (i < message.size() && std::isspace(static_cast<unsigned char>(message[i]))) ++i;
    std::size_t start = i;
    while (i < message.size() && !std::isspace(static_cast<unsigned char>(message[i]))) ++i;
    if (i > start) tokens.emplace_back(message.substr(start, i - start));
  }
  return tokens;
}

std::int32_t DrainParser::add(std::string_view message) {
  std::vector<std::string> tokens = tokenize(message);
  for (auto& t : tokens)
    if (has_digit(t)) t = kWildcard;

  // Route: length layer, then up to depth-2 leading tokens.
  auto [root_it, inserted] = length_roots_.try_emplace(tokens.size(), static_cast<std::int32_t>(nodes_.size()));
  if (inserted) nodes_.emplace_back();
  std::int32_t node = root_it->second;
  const std::size_t prefix = std::min<std::size_t>(tokens.size(), static_cast<std::size_t>(options_.depth - 2));
  for (std::size_t d = 0; d < prefix; ++d) {
    const std::string& key = tokens[d];
    auto& children = nodes_[static_cast<std::size_t>(node)].children;
    auto it = children.find(key);
    if (it == children.end()) {
      if (static_cast<int>(children.size()) >= options_.max_children) it = children.find(kWildcard);
      if (it == children.end()) {
        std::string use = static_cast<int>(children.size()) >= options_.max_children ? kWildcard : key;
        auto id = static_cast<std::int32_t>(nodes_.size());
        nodes_[static_cast<std::size_t>(node)].children.emplace(use, id);
        nodes_.emplace_back();
        node = id;
        continue;
      }
    }
    node = it->second;
  }

  // Most similar cluster in the leaf.
  std::int32_t best = -1;
  double best_sim = -1.0;
  std::size_t best_params = 0;
  for (std::int32_t c : nodes_[static_cast<std::size_t>(node)].clusters) {
    const auto& tmpl = clusters_[static_cast<std::size_t>(c)];
    std::size_t same = 0, params = 0;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (tmpl[i] == kWildcard)
        ++params;
      else if (tmpl[i] == tokens[i])
        ++same;
    }
    double sim = tokens.empty() ? 1.0 : static_cast<double>(same) / static_cast<double>(tokens.size());
    if (sim > best_sim || (sim == best_sim && params > best_params)) {
      best = c;
      best_sim = sim;
      best_params = params;
    }
  }
  if (best >= 0 && best_sim >= options_.similarity) {
    auto& tmpl = clusters_[static_cast<std::size_t>(best)];
    for (std::size_t i = 0; i < tokens.size(); ++i)
      if (tmpl[i] != tokens[i]) tmpl[i] = kWildcard;
    return best;
  }
  auto id = static_cast<std::int32_t>(clusters_.size());
  clusters_.push_back(tokens);
  nodes_[static_cast<std::size_t>(node)].clusters.push_back(id);
  return id;
}

std::string DrainParser::template_of(std::int32_t cluster) const {
  std::string out;
  for (const auto& t : clusters_.at(static_cast<std::size_t>(cluster))) {
    if (!out.empty()) out += ' ';
    out += t;
  }
  return out;
}

std::string DrainParser::params_of(std::int32_t cluster, std::string_view message) const {
  const auto& tmpl = clusters_.at(static_cast<std::size_t>(cluster));
  std::vector<std::string> tokens = tokenize(message);
  std::string out;
  bool first = true;
  for (std::size_t i = 0; i < tokens.size() && i < tmpl.size(); ++i) {
    if (tmpl[i] != kWildcard) continue;
    if (!first) out += '\x1f';
    out += tokens[i];
    first = false;
  }
  return out;
}

}  // namespace rslicer::data
