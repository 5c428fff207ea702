#include "config/interpolation.h"

#include <cstdlib>
#include <ctime>
#include <set>
#include <vector>

#include "config/override.h"
#include "config/yaml_value.h"
#include "core/error.h"
#include "core/text.h"

namespace rslicer::config {

bool has_interpolation(const std::string& text) {
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
      continue;
    }
    if (text[i] == '$' && text[i + 1] == '{') return true;
  }
  return false;
}

std::string format_time(std::chrono::system_clock::time_point time, const std::string& format) {
  std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buffer[256];
  std::size_t n = std::strftime(buffer, sizeof buffer, format.c_str(), &tm);
  if (n == 0 && !format.empty())
    throw ConfigError("bad ${now:" + format + "} format", "interpolation", "a strftime format such as %Y-%m-%d");
  return std::string(buffer, n);
}

namespace {

struct Piece {
  bool is_interpolation;
  std::string text;  // literal text, or the body between "${" and "}"
};

std::vector<Piece> split_pieces(const std::string& text, const std::string& where) {
  std::vector<Piece> pieces;
  std::string literal;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '\\' && i + 2 < text.size() + 1 && text.compare(i + 1, 2, "${") == 0) {
      literal += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") == 0) {
      std::size_t depth = 0, j = i;
      for (; j < text.size(); ++j) {
        if (text.compare(j, 2, "${") == 0) {
          ++depth;
          ++j;
        } else if (text[j] == '}' && --depth == 0) {
          break;
        }
      }
      if (j >= text.size())
        throw ConfigError("unterminated interpolation in '" + text + "'", "key '" + where + "'", "a closing '}'");
      if (!literal.empty()) pieces.push_back({false, literal});
      literal.clear();
      pieces.push_back({true, text.substr(i + 2, j - i - 2)});
      i = j + 1;
      continue;
    }
    literal += text[i++];
  }
  if (!literal.empty() || pieces.empty()) pieces.push_back({false, literal});
  return pieces;
}

// Splits resolver arguments at top-level commas (not inside ${...}, brackets or quotes).
std::vector<std::string> split_arguments(const std::string& args) {
  std::vector<std::string> out;
  std::string current;
  int depth = 0;
  char quote = 0;
  for (char c : args) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '{' || c == '[' || c == '(') {
      ++depth;
    } else if (c == '}' || c == ']' || c == ')') {
      --depth;
    } else if (c == ',' && depth == 0) {
      out.push_back(std::string(trim(current)));
      current.clear();
      continue;
    }
    current += c;
  }
  out.push_back(std::string(trim(current)));
  return out;
}

class Resolver {
 public:
  Resolver(YAML::Node& root, const ResolveContext& context) : root_(root), context_(context) {}

  void resolve_subtree(const std::string& path) {
    YAML::Node node = find_path(root_, path);
    if (node.IsMap()) {
      std::vector<std::string> keys;
      for (auto it = node.begin(); it != node.end(); ++it) keys.push_back(it->first.Scalar());
      for (const auto& k : keys) resolve_subtree(path.empty() ? k : path + "." + k);
    } else if (node.IsSequence()) {
      for (std::size_t i = 0; i < node.size(); ++i)
        resolve_subtree(path.empty() ? std::to_string(i) : path + "." + std::to_string(i));
    } else if (node.IsScalar() && is_string_scalar(node) && node.Scalar().find("${") != std::string::npos &&
               !resolved_.count(path)) {
      resolve_scalar(path, node.Scalar());  // also unescapes "\${" in strings without interpolations
    }
  }

 private:
  YAML::Node& root_;
  const ResolveContext& context_;
  std::vector<std::string> stack_;  // key paths being resolved, for cycle detection
  std::set<std::string> resolved_;  // key paths done: an unescaped "${" in their value is literal now

  void resolve_scalar(const std::string& path, const std::string& text) {
    for (std::size_t i = 0; i < stack_.size(); ++i) {
      if (stack_[i] != path) continue;
      std::vector<std::string> cycle(stack_.begin() + i, stack_.end());
      cycle.push_back(path);
      throw ConfigError("interpolation cycle " + join(cycle, " -> "), "key '" + path + "'",
                        "interpolations that end in a value");
    }
    stack_.push_back(path);
    YAML::Node value = evaluate(text, path);
    stack_.pop_back();
    set_path(root_, path, value);
    resolved_.insert(path);
  }

  YAML::Node evaluate(const std::string& text, const std::string& path) {
    auto pieces = split_pieces(text, path);
    if (pieces.size() == 1 && pieces[0].is_interpolation) return evaluate_body(pieces[0].text, path);
    std::string out;
    for (const auto& p : pieces) {
      if (!p.is_interpolation) {
        out += p.text;
        continue;
      }
      YAML::Node v = evaluate_body(p.text, path);
      if (!(v.IsScalar() || v.IsNull()))
        throw ConfigError("interpolation '${" + p.text + "}' inside the string '" + text + "' is not a scalar",
                          "key '" + path + "'", "a scalar to put into the string");
      out += v.IsNull() ? "None" : v.Scalar();
    }
    return string_node(out);
  }

  YAML::Node evaluate_body(const std::string& raw_body, const std::string& path) {
    std::string body = raw_body;
    auto colon = body.find(':');
    bool is_resolver = colon != std::string::npos && body.find("${") > colon;
    if (is_resolver) {
      std::string name(trim(body.substr(0, colon)));
      std::string args = body.substr(colon + 1);
      if (name == "now") return string_node(format_time(context_.now, std::string(args)));
      if (name == "hydra") return evaluate_body("hydra." + std::string(trim(args)), path);
      if (name == "oc.env") {
        auto parts = split_arguments(args);
        for (auto& part : parts)
          if (has_interpolation(part)) part = evaluate(part, path).Scalar();
        const char* value = std::getenv(parts[0].c_str());
        if (value) return string_node(value);
        if (parts.size() >= 2) return parse_element_value(parts[1]).value;
        throw ConfigError("environment variable '" + parts[0] + "' is not set", "key '" + path + "' (${oc.env:" +
                              args + "})", "the variable set, or a default: ${oc.env:" + parts[0] + ",default}");
      }
      if (name == "oc.decode") {  // OmegaConf's: the text (an environment variable's, say) parsed as a value
        std::string text(trim(args));
        if (has_interpolation(text)) text = evaluate(text, path).Scalar();
        return parse_element_value(text).value;
      }
      throw ConfigError("unknown resolver '" + name + "' in '${" + raw_body + "}'", "key '" + path + "'",
                        "one of now, oc.env, oc.decode, hydra");
    }
    if (has_interpolation(body)) body = evaluate(body, path).Scalar();  // ${${a}} style nested keys
    std::string target = absolute_path(std::string(trim(body)), path);
    YAML::Node node = find_path(root_, target);
    if (!node.IsDefined()) {
      std::string hint = did_you_mean(target, all_key_paths(root_));
      throw ConfigError("interpolation '${" + raw_body + "}' names a missing key '" + target + "'",
                        "key '" + path + "'", hint.empty() ? "an existing key" : hint);
    }
    resolve_subtree(target);
    return deep_copy(find_path(root_, target));
  }

  static std::string absolute_path(const std::string& ref, const std::string& path) {
    if (ref.empty() || ref[0] != '.') return ref;
    std::size_t dots = ref.find_first_not_of('.');
    auto segments = split_path(path);
    segments.pop_back();  // the node itself: one dot is its own map
    for (std::size_t d = 1; d < dots && !segments.empty(); ++d) segments.pop_back();
    std::string rest = ref.substr(dots == std::string::npos ? ref.size() : dots);
    if (!rest.empty()) segments.push_back(rest);
    return join(segments, ".");
  }
};

}  // namespace

void resolve_all(YAML::Node& root, const ResolveContext& context) {
  Resolver resolver(root, context);
  resolver.resolve_subtree("");
}

}  // namespace rslicer::config
