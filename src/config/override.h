// The Hydra command-line override grammar:
//   key=value        change a key (must exist) or choose a config group option
//   +key=value       add a key or a config group (must not exist)
//   ++key=value      set or add
//   ~key, ~key=value delete (a key, or a config group from the defaults list)
//   group@pkg=option a config group placed at another package
// Values are YAML-typed elements (1, 1.5, true, null, 'quoted', "quoted", [1,2], {a: 1, b: [x]}, ${interp}),
// or sweeps for multirun: a,b,c  choice(a,b)  range(start,stop[,step])  glob(pattern..., exclude=...)  interval(lo,hi).
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <vector>

namespace rslicer::config {

struct OverrideElement {
  YAML::Node value;  // typed as YAML would type it
  std::string text;  // the element's own text, so a sweep can be cut into one override per job
};

struct OverrideValue {
  enum class Kind { element, sweep, choice, range, glob, interval };
  Kind kind = Kind::element;
  std::vector<OverrideElement> elements;  // element: exactly one; sweep and choice: the options
  double range_start = 0, range_stop = 0, range_step = 1;
  bool range_is_integer = true;
  std::vector<std::string> glob_include, glob_exclude;
  double interval_low = 0, interval_high = 0;

  bool is_sweep() const { return kind != Kind::element; }
};

struct Override {
  enum class Kind { change, add, force_add, remove };
  Kind kind = Kind::change;
  std::string key;      // "a.b", or a group path "trainer", "db/engine"
  std::string package;  // after '@' ("train.trainer"), empty when not given
  std::optional<OverrideValue> value;  // absent for "~key"
  std::string text;     // the override as typed

  // "key" or "key@package" as written.
  std::string key_with_package() const { return package.empty() ? key : key + "@" + package; }
  std::string prefix() const;  // "", "+", "++", "~"
};

// Throws ConfigError naming the override and the position when it does not parse.
Override parse_override(const std::string& text);

// A single element value (no sweep), e.g. for "${oc.env:VAR,default}" defaults.
OverrideElement parse_element_value(const std::string& text);

}  // namespace rslicer::config
