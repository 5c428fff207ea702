#include "config/yaml_value.h"

#include <regex>

#include "core/text.h"

namespace rslicer::config {

ScalarKind plain_scalar_kind(const std::string& text) {
  // YAML 1.2 core schema, as OmegaConf/PyYAML users expect.
  static const std::regex null_re("^(~|null|Null|NULL|)$");
  static const std::regex bool_re("^(true|True|TRUE|false|False|FALSE)$");
  static const std::regex int_re("^[-+]?([0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$");
  static const std::regex float_re(
      "^([-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN))$");
  if (std::regex_match(text, null_re)) return ScalarKind::null;
  if (std::regex_match(text, bool_re)) return ScalarKind::boolean;
  if (std::regex_match(text, int_re)) return ScalarKind::integer;
  if (std::regex_match(text, float_re)) return ScalarKind::floating;
  return ScalarKind::string;
}

bool is_string_scalar(const YAML::Node& node) {
  return node.IsScalar() && (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str" ||
                             plain_scalar_kind(node.Scalar()) == ScalarKind::string);
}

ScalarKind scalar_kind(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return ScalarKind::null;
  if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return ScalarKind::string;
  return plain_scalar_kind(node.Scalar());
}

const char* kind_name(ScalarKind kind) {
  switch (kind) {
    case ScalarKind::null: return "null";
    case ScalarKind::boolean: return "a boolean";
    case ScalarKind::integer: return "an integer";
    case ScalarKind::floating: return "a float";
    case ScalarKind::string: return "a string";
  }
  return "?";
}

YAML::Node string_node(const std::string& text) {
  YAML::Node n(text);
  n.SetTag("!");
  return n;
}

YAML::Node plain_node(const std::string& text) {
  if (plain_scalar_kind(text) == ScalarKind::null) return YAML::Node(YAML::NodeType::Null);
  YAML::Node n(text);
  n.SetTag("?");
  return n;
}

YAML::Node deep_copy(const YAML::Node& node) { return YAML::Clone(node); }

void merge_into(YAML::Node& dst, const YAML::Node& src) {
  if (dst.IsMap() && src.IsMap()) {
    for (auto it = src.begin(); it != src.end(); ++it) {
      const std::string key = it->first.Scalar();
      YAML::Node child = dst[key];
      if (child.IsDefined() && child.IsMap() && it->second.IsMap()) {
        merge_into(child, it->second);
      } else {
        dst[key] = deep_copy(it->second);
      }
    }
    return;
  }
  dst = deep_copy(src);
}

std::vector<std::string> split_path(const std::string& path) {
  if (path.empty()) return {};
  return split(path, '.');
}

namespace {
bool is_index(const std::string& segment) {
  return !segment.empty() && segment.find_first_not_of("0123456789") == std::string::npos;
}
}  // namespace

YAML::Node find_path(const YAML::Node& root, const std::string& path) {
  YAML::Node current = root;  // yaml-cpp nodes are handles; reassigning a handle does not copy
  for (const auto& segment : split_path(path)) {
    if (current.IsMap()) {
      YAML::Node next = current[segment];
      if (!next.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
      current.reset(next);
    } else if (current.IsSequence() && is_index(segment)) {
      std::size_t i = std::stoul(segment);
      if (i >= current.size()) return YAML::Node(YAML::NodeType::Undefined);
      current.reset(current[i]);
    } else {
      return YAML::Node(YAML::NodeType::Undefined);
    }
  }
  return current;
}

void set_path(YAML::Node& root, const std::string& path, const YAML::Node& value) {
  auto segments = split_path(path);
  if (segments.empty()) {
    root = deep_copy(value);
    return;
  }
  YAML::Node current(root);
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    const auto& s = segments[i];
    if (current.IsSequence() && is_index(s)) {
      current.reset(current[std::stoul(s)]);
      continue;
    }
    YAML::Node next = current[s];
    if (!next.IsDefined() || !(next.IsMap() || next.IsSequence())) {
      current[s] = YAML::Node(YAML::NodeType::Map);
      next.reset(current[s]);
    }
    current.reset(next);
  }
  const auto& last = segments.back();
  if (current.IsSequence() && is_index(last))
    current[std::stoul(last)] = deep_copy(value);
  else
    current[last] = deep_copy(value);
}

bool erase_path(YAML::Node& root, const std::string& path) {
  auto segments = split_path(path);
  if (segments.empty()) return false;
  std::string parent_path = join({segments.begin(), segments.end() - 1}, ".");
  YAML::Node parent = segments.size() == 1 ? root : find_path(root, parent_path);
  if (!parent.IsDefined()) return false;
  if (parent.IsMap()) {
    if (!parent[segments.back()].IsDefined()) return false;
    return parent.remove(segments.back());
  }
  if (parent.IsSequence() && is_index(segments.back())) {
    std::size_t i = std::stoul(segments.back());
    if (i >= parent.size()) return false;
    YAML::Node rebuilt(YAML::NodeType::Sequence);
    for (std::size_t k = 0; k < parent.size(); ++k)
      if (k != i) rebuilt.push_back(parent[k]);
    parent = rebuilt;
    return true;
  }
  return false;
}

namespace {
void collect_paths(const YAML::Node& node, const std::string& prefix, std::vector<std::string>& out) {
  if (!node.IsMap()) return;
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string path = prefix.empty() ? it->first.Scalar() : prefix + "." + it->first.Scalar();
    out.push_back(path);
    collect_paths(it->second, path, out);
  }
}

void emit(YAML::Emitter& out, const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out << YAML::Null;
      break;
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      bool quote = scalar_kind(node) == ScalarKind::string &&
                   (plain_scalar_kind(text) != ScalarKind::string || text.empty());
      if (quote)
        out << YAML::SingleQuoted << text;
      else
        out << text;
      break;
    }
    case YAML::NodeType::Sequence:
      out << YAML::BeginSeq;
      for (const auto& item : node) emit(out, item);
      out << YAML::EndSeq;
      break;
    case YAML::NodeType::Map:
      out << YAML::BeginMap;
      for (auto it = node.begin(); it != node.end(); ++it) {
        out << YAML::Key << it->first.Scalar() << YAML::Value;
        emit(out, it->second);
      }
      out << YAML::EndMap;
      break;
  }
}
}  // namespace

std::vector<std::string> all_key_paths(const YAML::Node& root) {
  std::vector<std::string> out;
  collect_paths(root, "", out);
  return out;
}

std::string to_yaml(const YAML::Node& node) {
  if (node.IsMap() && node.size() == 0) return "{}\n";
  YAML::Emitter out;
  out.SetNullFormat(YAML::LowerNull);  // "null", as OmegaConf writes it
  emit(out, node);
  return std::string(out.c_str()) + "\n";
}

}  // namespace rslicer::config
