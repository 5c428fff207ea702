// Typed views of yaml-cpp nodes, as OmegaConf sees them: a plain scalar is typed by the YAML 1.2 core schema
// (null, bool, int, float, else string); a quoted scalar is always a string. Plus the tree operations that
// composition needs: deep copy, merge, dotted-path access and a type-preserving emitter.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace rslicer::config {

enum class ScalarKind { null, boolean, integer, floating, string };

ScalarKind scalar_kind(const YAML::Node& scalar);
const char* kind_name(ScalarKind kind);

// Typing of a plain (unquoted) scalar text.
ScalarKind plain_scalar_kind(const std::string& text);

// A scalar that stays a string whatever its text ("1", "true", "null" included).
YAML::Node string_node(const std::string& text);
// A scalar typed from its text as if written unquoted in YAML.
YAML::Node plain_node(const std::string& text);
bool is_string_scalar(const YAML::Node& node);

YAML::Node deep_copy(const YAML::Node& node);

// OmegaConf merge: maps merge key by key (recursively); anything else is replaced by a copy of `src`.
void merge_into(YAML::Node& dst, const YAML::Node& src);

// Dotted paths: "a.b.c"; a segment that is a number indexes a sequence ("layers.0").
std::vector<std::string> split_path(const std::string& path);
// The node at `path`, or an undefined node (operator! true) when any segment is missing.
YAML::Node find_path(const YAML::Node& root, const std::string& path);
// Sets `value` at `path`, creating maps on the way.
void set_path(YAML::Node& root, const std::string& path, const YAML::Node& value);
// Removes the node at `path`; returns false when it was not there.
bool erase_path(YAML::Node& root, const std::string& path);
// Every key path in the tree (maps recursed, sequences as leaves), for "did you mean".
std::vector<std::string> all_key_paths(const YAML::Node& root);

// YAML text that reads back to the same types (strings that look like numbers are quoted).
std::string to_yaml(const YAML::Node& node);

}  // namespace rslicer::config
