#include "config/config.h"

#include "config/yaml_value.h"
#include "core/error.h"
#include "core/text.h"

namespace rslicer::config {

Config::Config(YAML::Node root, std::string prefix, std::string source)
    : root_(std::move(root)), prefix_(std::move(prefix)), source_(std::move(source)) {}

Config Config::from_yaml(const std::string& text, const std::string& source) {
  try {
    return Config(YAML::Load(text), "", source);
  } catch (const YAML::Exception& e) {
    throw ConfigError("invalid YAML (" + e.msg + ")", source + ":" + std::to_string(e.mark.line + 1), "valid YAML");
  }
}

bool Config::has(const std::string& key) const { return find_path(root_, key).IsDefined(); }

YAML::Node Config::require(const std::string& key) const {
  YAML::Node node = find_path(root_, key);
  if (node.IsDefined() && node.IsScalar() && node.Tag() != "!" && node.Scalar() == "???")
    throw ConfigError("config key '" + full_path(key) + "' is mandatory and not set", source_,
                      "a value, e.g. on the command line: " + full_path(key) + "=...");
  if (node.IsDefined()) return node;
  std::vector<std::string> candidates;
  for (const auto& p : all_key_paths(root_)) candidates.push_back(full_path(p));
  std::string hint = did_you_mean(full_path(key), candidates);
  throw ConfigError("missing config key '" + full_path(key) + "'", source_,
                    hint.empty() ? "the key in configs/ or on the command line (+" + full_path(key) + "=...)" : hint);
}

void Config::type_error(const std::string& key, const YAML::Node& value, const std::string& expected) const {
  std::string shown = value.IsScalar() ? "'" + value.Scalar() + "'" : value.IsNull() ? "null"
                                                                     : value.IsMap()  ? "a mapping"
                                                                                      : "a list";
  throw ConfigError("config key '" + full_path(key) + "' is " + shown, source_, "expected " + expected);
}

std::int64_t Config::get_int(const std::string& key) const {
  YAML::Node v = require(key);
  if (!v.IsScalar() || scalar_kind(v) != ScalarKind::integer) type_error(key, v, "an integer");
  return std::stoll(v.Scalar(), nullptr, 0);
}

double Config::get_double(const std::string& key) const {
  YAML::Node v = require(key);
  auto kind = v.IsScalar() ? scalar_kind(v) : ScalarKind::null;
  if (kind != ScalarKind::integer && kind != ScalarKind::floating) type_error(key, v, "a number");
  return v.as<double>();
}

bool Config::get_bool(const std::string& key) const {
  YAML::Node v = require(key);
  if (!v.IsScalar() || scalar_kind(v) != ScalarKind::boolean) type_error(key, v, "true or false");
  return v.as<bool>();
}

std::string Config::get_string(const std::string& key) const {
  YAML::Node v = require(key);
  if (!v.IsScalar()) type_error(key, v, "a string");
  return v.Scalar();
}

std::optional<std::string> Config::get_optional_string(const std::string& key) const {
  if (is_null(key)) return std::nullopt;
  return get_string(key);
}

bool Config::is_null(const std::string& key) const { return require(key).IsNull(); }

namespace {
template <typename T, typename Convert>
std::vector<T> list_of(const Config& cfg, const std::string& key, const YAML::Node& v, Convert convert) {
  std::vector<T> out;
  for (std::size_t i = 0; i < v.size(); ++i) out.push_back(convert(cfg, key + "." + std::to_string(i)));
  return out;
}
}  // namespace

std::vector<std::int64_t> Config::get_int_list(const std::string& key) const {
  YAML::Node v = require(key);
  if (!v.IsSequence()) type_error(key, v, "a list of integers");
  return list_of<std::int64_t>(*this, key, v, [](const Config& c, const std::string& k) { return c.get_int(k); });
}

std::vector<double> Config::get_double_list(const std::string& key) const {
  YAML::Node v = require(key);
  if (!v.IsSequence()) type_error(key, v, "a list of numbers");
  return list_of<double>(*this, key, v, [](const Config& c, const std::string& k) { return c.get_double(k); });
}

std::vector<std::string> Config::get_string_list(const std::string& key) const {
  YAML::Node v = require(key);
  if (!v.IsSequence()) type_error(key, v, "a list of strings");
  return list_of<std::string>(*this, key, v,
                              [](const Config& c, const std::string& k) { return c.get_string(k); });
}

Config Config::sub(const std::string& key) const {
  YAML::Node v = require(key);
  if (!v.IsMap()) type_error(key, v, "a mapping");
  return Config(v, full_path(key), source_);
}

std::vector<std::string> Config::keys() const {
  std::vector<std::string> out;
  for (auto it = root_.begin(); it != root_.end(); ++it) out.push_back(it->first.Scalar());
  return out;
}

std::string Config::to_yaml() const { return config::to_yaml(root_); }

}  // namespace rslicer::config
