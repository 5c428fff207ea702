#include "config/composer.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <regex>
#include <unistd.h>

#include "config/interpolation.h"
#include "config/override.h"
#include "config/yaml_value.h"
#include "core/error.h"
#include "core/text.h"

namespace fs = std::filesystem;

namespace rslicer::config {

namespace {

constexpr int kMaxOverrideRounds = 16;

struct LoadedFile {
  YAML::Node content;           // without the defaults list
  std::optional<std::string> package_header;  // from "# @package X"
  YAML::Node defaults;          // the defaults list, or undefined
};

LoadedFile load_config_file(const fs::path& file) {
  LoadedFile out;
  std::ifstream in(file);
  if (!in) throw ConfigError("cannot read config file", file.string(), "a readable YAML file");
  std::string first_line;
  std::getline(in, first_line);
  static const std::regex header_re("^#\\s*@package\\s+(\\S+)\\s*$");
  std::smatch m;
  if (std::regex_match(first_line, m, header_re)) out.package_header = m[1];
  try {
    out.content = YAML::LoadFile(file.string());
  } catch (const YAML::Exception& e) {
    throw ConfigError("invalid YAML (" + e.msg + ")",
                      file.string() + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1),
                      "valid YAML");
  }
  if (out.content.IsNull()) out.content = YAML::Node(YAML::NodeType::Map);
  if (!out.content.IsMap())
    throw ConfigError("config file is not a mapping", file.string(), "key: value pairs at the top level");
  if (out.content["defaults"].IsDefined()) {
    out.defaults = out.content["defaults"];
    if (!out.defaults.IsSequence())
      throw ConfigError("'defaults' is not a list", file.string(), "defaults: [- group: option, - _self_]");
    out.content.remove("defaults");
  }
  return out;
}

struct Entry {
  std::string group;    // absolute group path; empty for _self_
  std::string option;   // empty: no config chosen (null)
  std::string package;  // explicit package ("" = default for the group)
  bool optional = false;
  bool is_override = false;
  bool is_self = false;

  std::string choice_key() const { return package.empty() ? group : group + "@" + package; }
};

std::string dotted(const std::string& group_path) {
  std::string s = group_path;
  std::replace(s.begin(), s.end(), '/', '.');
  return s;
}

// Parses one defaults-list item of a file that belongs to `containing_group`.
Entry parse_entry(const YAML::Node& item, const std::string& containing_group, const fs::path& file) {
  Entry e;
  if (item.IsScalar()) {
    if (item.Scalar() == "_self_") {
      e.is_self = true;
      return e;
    }
    throw ConfigError("defaults entry '" + item.Scalar() + "' is not supported", file.string(),
                      "'- group: option' or '- _self_'");
  }
  if (!item.IsMap() || item.size() != 1)
    throw ConfigError("malformed defaults entry", file.string(), "'- group: option' (one key per entry)");
  std::string key = item.begin()->first.Scalar();
  const YAML::Node value = item.begin()->second;  // a copy: the iterator's pair is a temporary (ASan found the dangling reference)
  if (starts_with(key, "optional ")) {
    e.optional = true;
    key = std::string(trim(key.substr(9)));
  } else if (starts_with(key, "override ")) {
    e.is_override = true;
    key = std::string(trim(key.substr(9)));
  }
  auto at = key.find('@');
  if (at != std::string::npos) {
    e.package = key.substr(at + 1);
    key = key.substr(0, at);
  }
  if (starts_with(key, "/"))
    e.group = key.substr(1);
  else
    e.group = containing_group.empty() ? key : containing_group + "/" + key;
  if (!value.IsNull()) {
    if (!value.IsScalar())
      throw ConfigError("defaults entry '" + key + "' has a non-scalar option", file.string(), "an option name");
    e.option = value.Scalar();
  }
  return e;
}

struct Layer {
  YAML::Node content;
  std::string package;  // dotted; empty = root
};

class TreeBuilder {
 public:
  TreeBuilder(const Composer& composer, const std::map<std::string, std::string>& choices,
              const std::map<std::string, Entry>& additions, const std::vector<std::string>& removals)
      : composer_(composer), choices_(choices), additions_(additions), removals_(removals) {}

  // Layers in merge order; file overrides found on the way; the options chosen per group.
  std::vector<Layer> layers;
  std::map<std::string, std::string> file_overrides;
  std::map<std::string, std::string> used_choices;
  std::vector<std::string> seen_choice_keys;

  void build_primary(const std::string& name) {
    fs::path file = composer_.config_dir() / (name + ".yaml");
    if (!fs::exists(file)) {
      std::string hint = did_you_mean(name, composer_.primary_configs());
      throw ConfigError("no primary config '" + name + "'", composer_.config_dir().string(),
                        hint.empty() ? "one of " + join(composer_.primary_configs(), ", ") : hint);
    }
    LoadedFile loaded = load_config_file(file);
    std::vector<Entry> entries;
    entries.push_back(Entry{"hydra", "default", "", false, false, false});
    read_entries(loaded, "", file, entries);
    for (const auto& [key, entry] : additions_) entries.push_back(entry);  // "+group=option": appended last
    expand(entries, loaded.content, "", file);
  }

 private:
  const Composer& composer_;
  const std::map<std::string, std::string>& choices_;
  const std::map<std::string, Entry>& additions_;
  const std::vector<std::string>& removals_;
  int depth_ = 0;

  void read_entries(const LoadedFile& loaded, const std::string& group, const fs::path& file,
                    std::vector<Entry>& entries) {
    bool has_self = false;
    if (loaded.defaults.IsDefined()) {
      for (const auto& item : loaded.defaults) {
        Entry e = parse_entry(item, group, file);
        if (e.is_override) {
          if (!file_overrides.count(e.choice_key())) file_overrides[e.choice_key()] = e.option;
          continue;
        }
        has_self = has_self || e.is_self;
        entries.push_back(e);
      }
    }
    if (!has_self) entries.push_back(Entry{"", "", "", false, false, true});
  }

  void expand(const std::vector<Entry>& entries, const YAML::Node& self_content, const std::string& self_package,
              const fs::path& self_file) {
    if (++depth_ > 32) throw ConfigError("defaults lists nest too deeply", self_file.string(), "no include cycles");
    for (const Entry& entry : entries) {
      if (entry.is_self) {
        layers.push_back({self_content, self_package});
        continue;
      }
      const std::string key = entry.choice_key();
      seen_choice_keys.push_back(key);
      if (std::find(removals_.begin(), removals_.end(), key) != removals_.end()) continue;
      std::string option = entry.option;
      if (auto it = choices_.find(key); it != choices_.end()) option = it->second;
      used_choices[key] = option;
      if (option.empty()) continue;
      fs::path file = composer_.config_dir() / entry.group / (option + ".yaml");
      if (!fs::exists(file)) {
        if (entry.optional) continue;
        if (!composer_.is_group(entry.group))
          throw ConfigError("no config group '" + entry.group + "'", self_file.string(),
                            "a folder " + (composer_.config_dir() / entry.group).string());
        std::string hint = did_you_mean(option, composer_.options(entry.group));
        throw ConfigError("no option '" + option + "' in config group '" + entry.group + "'", file.string(),
                          hint.empty() ? "one of " + join(composer_.options(entry.group), ", ") : hint);
      }
      LoadedFile loaded = load_config_file(file);
      std::string package = dotted(entry.group);
      if (loaded.package_header) {
        if (*loaded.package_header == "_global_")
          package = "";
        else if (*loaded.package_header != "_group_")
          package = *loaded.package_header;
      }
      if (!entry.package.empty()) package = entry.package == "_global_" ? "" : entry.package;
      std::vector<Entry> children;
      read_entries(loaded, entry.group, file, children);  // relative groups are relative to this file's group
      expand(children, loaded.content, package, file);
    }
    --depth_;
  }
};

YAML::Node wrap_in_package(const YAML::Node& content, const std::string& package) {
  YAML::Node wrapped = deep_copy(content);
  auto segments = split_path(package);
  for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
    YAML::Node outer(YAML::NodeType::Map);
    outer[*it] = wrapped;
    wrapped = outer;
  }
  return wrapped;
}

std::string describe(const Override& o) { return "command-line override '" + o.text + "'"; }

void apply_value_override(YAML::Node& root, const Override& o) {
  const std::string& key = o.key;
  YAML::Node existing = find_path(root, key);
  switch (o.kind) {
    case Override::Kind::change:
      if (!existing.IsDefined()) {
        std::string hint = did_you_mean(key, all_key_paths(root));
        throw ConfigError("unknown config key '" + key + "'", describe(o),
                          (hint.empty() ? "an existing key" : hint) + " (to add a key use +" + key + "=...)");
      }
      set_path(root, key, o.value->elements[0].value);
      break;
    case Override::Kind::add:
      if (existing.IsDefined())
        throw ConfigError("config key '" + key + "' already exists", describe(o),
                          "a new key (to change it use " + key + "=..., to set or add use ++" + key + "=...)");
      set_path(root, key, o.value->elements[0].value);
      break;
    case Override::Kind::force_add:
      set_path(root, key, o.value->elements[0].value);
      break;
    case Override::Kind::remove:
      if (!existing.IsDefined()) {
        std::string hint = did_you_mean(key, all_key_paths(root));
        throw ConfigError("cannot delete missing config key '" + key + "'", describe(o),
                          hint.empty() ? "an existing key" : hint);
      }
      if (o.value && !(existing.IsScalar() && existing.Scalar() == o.value->elements[0].value.Scalar()))
        throw ConfigError("config key '" + key + "' is not '" + o.value->elements[0].text + "'", describe(o),
                          "~" + key + " or ~" + key + "=<its current value>");
      erase_path(root, key);
      break;
  }
}

std::string override_dirname(const std::vector<Override>& overrides) {
  std::vector<std::string> parts;
  for (const auto& o : overrides) parts.push_back(o.text);
  std::sort(parts.begin(), parts.end());
  return join(parts, ",");
}

}  // namespace

Composer::Composer(fs::path config_dir) : config_dir_(std::move(config_dir)) {
  if (!fs::is_directory(config_dir_))
    throw ConfigError("config directory not found", config_dir_.string(),
                      "a configs/ folder (set --config-dir or RSLICER_CONFIG_DIR)");
}

std::vector<std::string> Composer::primary_configs() const {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(config_dir_))
    if (e.is_regular_file() && e.path().extension() == ".yaml") out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Composer::groups() const {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(config_dir_))
    if (e.is_directory()) out.push_back(fs::relative(e.path(), config_dir_).generic_string());
  std::sort(out.begin(), out.end());
  return out;
}

bool Composer::is_group(const std::string& path) const {
  return !path.empty() && path.find("..") == std::string::npos && fs::is_directory(config_dir_ / path);
}

std::vector<std::string> Composer::options(const std::string& group) const {
  std::vector<std::string> out;
  if (!is_group(group)) return out;
  for (const auto& e : fs::directory_iterator(config_dir_ / group))
    if (e.is_regular_file() && e.path().extension() == ".yaml") out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

YAML::Node Composer::compose(const ComposeRequest& request) const {
  std::vector<Override> group_overrides, value_overrides, all;
  for (const auto& text : request.overrides) {
    Override o = parse_override(text);
    if (o.value && o.value->is_sweep())
      throw ConfigError("override '" + text + "' is a sweep", "command line",
                        "--multirun (-m) to run one job per value, or a single value");
    all.push_back(o);
    (is_group(o.key) ? group_overrides : value_overrides).push_back(o);
  }

  // Choices from the command line: they win over `override` entries in config files.
  std::map<std::string, std::string> cli_choices;
  std::map<std::string, Entry> additions;
  std::vector<std::string> removals;
  for (const auto& o : group_overrides) {
    std::string key = o.key_with_package();
    std::string option = o.value ? (o.value->elements[0].value.IsNull() ? "" : o.value->elements[0].value.Scalar())
                                 : "";
    if (o.kind == Override::Kind::remove) {
      removals.push_back(key);
    } else if (o.kind == Override::Kind::add) {
      additions[key] = Entry{o.key, option, o.package, false, false, false};
    } else {
      cli_choices[key] = option;
    }
  }

  // Build the defaults tree until `override` entries found in it stop changing the choices.
  std::map<std::string, std::string> choices = cli_choices;
  std::optional<TreeBuilder> tree;
  for (int round = 0;; ++round) {
    if (round == kMaxOverrideRounds)
      throw ConfigError("override entries in defaults lists do not settle", config_dir_.string(),
                        "overrides that do not re-choose each other");
    tree.emplace(*this, choices, additions, removals);
    tree->build_primary(request.config_name);
    std::map<std::string, std::string> next = tree->file_overrides;
    for (const auto& [k, v] : cli_choices) next[k] = v;
    if (next == choices) break;
    choices = next;
  }

  // Every command-line group override must name something in the defaults tree.
  for (const auto& o : group_overrides) {
    std::string key = o.key_with_package();
    bool found = std::find(tree->seen_choice_keys.begin(), tree->seen_choice_keys.end(), key) !=
                 tree->seen_choice_keys.end();
    if (o.kind == Override::Kind::change && !found)
      throw ConfigError("cannot choose '" + key + "': no '" + key + "' in the defaults list of '" +
                            request.config_name + "'",
                        describe(o), "+" + key + "=... to add the group");
    if (o.kind == Override::Kind::remove && !found && !additions.count(key))
      throw ConfigError("cannot delete group '" + key + "': not in the defaults list", describe(o),
                        "a group the config uses");
    if (o.kind != Override::Kind::remove && o.value) {
      std::string option = o.value->elements[0].value.Scalar();
      if (!o.value->elements[0].value.IsNull() && !fs::exists(config_dir_ / o.key / (option + ".yaml"))) {
        std::string hint = did_you_mean(option, options(o.key));
        throw ConfigError("no option '" + option + "' in config group '" + o.key + "'", describe(o),
                          hint.empty() ? "one of " + join(options(o.key), ", ") : hint);
      }
    }
  }

  YAML::Node root(YAML::NodeType::Map);
  for (const auto& layer : tree->layers) {
    YAML::Node wrapped = wrap_in_package(layer.content, layer.package);
    merge_into(root, wrapped);
  }
  for (const auto& o : value_overrides) apply_value_override(root, o);

  // Runtime facts, as Hydra records them under hydra.*
  YAML::Node overrides_list(YAML::NodeType::Sequence);
  for (const auto& o : all) overrides_list.push_back(string_node(o.text));
  YAML::Node choices_node(YAML::NodeType::Map);
  for (const auto& [k, v] : tree->used_choices)
    if (k != "hydra") choices_node[k] = v.empty() ? YAML::Node(YAML::NodeType::Null) : string_node(v);
  set_path(root, "hydra.mode", string_node(request.multirun ? "MULTIRUN" : "RUN"));
  set_path(root, "hydra.overrides.task", overrides_list);
  set_path(root, "hydra.job.name", string_node(request.config_name));
  set_path(root, "hydra.job.num", plain_node(std::to_string(request.job_num)));
  set_path(root, "hydra.job.override_dirname", string_node(override_dirname(all)));
  set_path(root, "hydra.runtime.choices", choices_node);
  set_path(root, "hydra.runtime.config_dir", string_node(fs::absolute(config_dir_).string()));
  set_path(root, "hydra.runtime.cwd", string_node(fs::current_path().string()));

  set_path(root, "hydra.runtime.output_dir",
           string_node(request.multirun ? "${hydra.sweep.dir}/${hydra.sweep.subdir}" : "${hydra.run.dir}"));
  resolve_all(root, ResolveContext{request.now});
  return root;
}

YAML::Node job_config(const YAML::Node& composed) {
  YAML::Node job = deep_copy(composed);
  if (job.IsMap() && job["hydra"].IsDefined()) job.remove("hydra");
  return job;
}

}  // namespace rslicer::config
