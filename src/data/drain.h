// Online log template mining in the way of Drain (He et al., ICWS 2017): a fixed-depth prefix tree routes a
// message by its token count and first tokens to a leaf of clusters; it joins the most similar cluster (share of
// equal tokens >= similarity) and widens that cluster's template with <*> where they differ, or starts a new one.
// Tokens with digits are treated as parameters up front (timestamps, ids, sizes), as Drain's preprocessing does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rslicer::data {

class DrainParser {
 public:
  struct Options {
    int depth = 4;            // tree depth including the length layer and the leaf
    double similarity = 0.4;  // join threshold
    int max_children = 100;   // per inner node; beyond it tokens route to <*>
  };
  DrainParser();
  explicit DrainParser(Options options);

  // Mines `message`; returns its cluster id (stable; the cluster's template may widen later).
  std::int32_t add(std::string_view message);
  std::string template_of(std::int32_t cluster) const;
  // The tokens of `message` at the <*> positions of the cluster's current template, '\x1f' separated.
  std::string params_of(std::int32_t cluster, std::string_view message) const;
  std::size_t size() const { return clusters_.size(); }

  static std::vector<std::string> tokenize(std::string_view message);

 private:
  struct Node {
    std::unordered_map<std::string, std::int32_t> children;
    std::vector<std::int32_t> clusters;
  };
  Options options_;
  std::vector<Node> nodes_;
  std::vector<std::vector<std::string>> clusters_;  // templates as tokens
  std::unordered_map<std::size_t, std::int32_t> length_roots_;
};

}  // namespace rslicer::data
