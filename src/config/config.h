// Typed, strict access to a composed configuration. A missing key names its full path and the closest keys;
// a wrong type names the key, its value and the expected type.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rslicer::config {

class Config {
 public:
  Config() : root_(YAML::NodeType::Map) {}
  // `prefix` is the path of `root` inside the whole config, for messages ("train" for cfg.sub("train")).
  explicit Config(YAML::Node root, std::string prefix = "", std::string source = "composed config");

  static Config from_yaml(const std::string& text, const std::string& source = "config");

  bool has(const std::string& key) const;
  std::int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;  // integers accepted
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;  // any non-null scalar, as text
  std::optional<std::string> get_optional_string(const std::string& key) const;  // nullopt where the value is null
  std::vector<std::int64_t> get_int_list(const std::string& key) const;
  std::vector<double> get_double_list(const std::string& key) const;
  std::vector<std::string> get_string_list(const std::string& key) const;
  bool is_null(const std::string& key) const;  // the key exists and is null
  Config sub(const std::string& key) const;    // a mapping below this one
  std::vector<std::string> keys() const;       // keys of this mapping

  const YAML::Node& node() const { return root_; }
  std::string full_path(const std::string& key) const { return prefix_.empty() ? key : prefix_ + "." + key; }
  std::string to_yaml() const;

 private:
  YAML::Node root_;
  std::string prefix_, source_;

  YAML::Node require(const std::string& key) const;
  [[noreturn]] void type_error(const std::string& key, const YAML::Node& value, const std::string& expected) const;
};

}  // namespace rslicer::config
