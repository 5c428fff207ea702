// Typed getters: values, strictness, and messages that name the key path and the expected type.
#include <gtest/gtest.h>

#include "config/config.h"
#include "config/yaml_value.h"
#include "core/error.h"

using namespace rslicer;
using namespace rslicer::config;

namespace {

const Config cfg = Config::from_yaml(
    "train:\n  lr: 0.5\n  steps: 10\n  hex: 0x10\n  name: x\n  on: true\n  dims: [1, 2]\n  rates: [1, 0.5]\n"
    "  tags: [a, '1']\n  missing: ???\n  nothing: null\n");

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.one_line();
  }
  return "no error";
}

TEST(Config, TypedValues) {
  EXPECT_DOUBLE_EQ(cfg.get_double("train.lr"), 0.5);
  EXPECT_DOUBLE_EQ(cfg.get_double("train.steps"), 10.0);  // an integer is a number
  EXPECT_EQ(cfg.get_int("train.steps"), 10);
  EXPECT_EQ(cfg.get_int("train.hex"), 16);
  EXPECT_EQ(cfg.get_string("train.name"), "x");
  EXPECT_TRUE(cfg.get_bool("train.on"));
  EXPECT_EQ(cfg.get_int_list("train.dims"), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(cfg.get_double_list("train.rates"), (std::vector<double>{1.0, 0.5}));
  EXPECT_EQ(cfg.get_string_list("train.tags"), (std::vector<std::string>{"a", "1"}));
  EXPECT_TRUE(cfg.is_null("train.nothing"));
  EXPECT_EQ(cfg.get_optional_string("train.nothing"), std::nullopt);
  EXPECT_EQ(cfg.get_optional_string("train.name"), std::optional<std::string>("x"));
  EXPECT_EQ(cfg.sub("train").get_int("steps"), 10);
  EXPECT_EQ(cfg.sub("train").full_path("steps"), "train.steps");
}

TEST(Config, MessagesNameKeyValueAndExpectedType) {
  std::string e = error_of([] { cfg.get_int("train.lr"); });
  EXPECT_NE(e.find("config key 'train.lr' is '0.5'"), std::string::npos) << e;
  EXPECT_NE(e.find("expected an integer"), std::string::npos) << e;
  e = error_of([] { cfg.get_bool("train.name"); });
  EXPECT_NE(e.find("expected true or false"), std::string::npos) << e;
  e = error_of([] { cfg.get_int_list("train.tags"); });
  EXPECT_NE(e.find("train.tags.0"), std::string::npos) << e;
  e = error_of([] { cfg.sub("train").get_double("lrr"); });
  EXPECT_NE(e.find("missing config key 'train.lrr'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'train.lr'"), std::string::npos) << e;
  e = error_of([] { cfg.get_string("train.missing"); });
  EXPECT_NE(e.find("mandatory and not set"), std::string::npos) << e;
  e = error_of([] { cfg.sub("train.name"); });
  EXPECT_NE(e.find("expected a mapping"), std::string::npos) << e;
}

TEST(YamlValue, EmitterKeepsTypes) {
  YAML::Node n(YAML::NodeType::Map);
  n["s"] = string_node("1");
  n["t"] = string_node("true");
  n["e"] = string_node("");
  n["i"] = plain_node("1");
  n["z"] = plain_node("null");
  YAML::Node back = YAML::Load(to_yaml(n));
  EXPECT_EQ(scalar_kind(back["s"]), ScalarKind::string);
  EXPECT_EQ(scalar_kind(back["t"]), ScalarKind::string);
  EXPECT_EQ(scalar_kind(back["e"]), ScalarKind::string);
  EXPECT_EQ(scalar_kind(back["i"]), ScalarKind::integer);
  EXPECT_EQ(scalar_kind(back["z"]), ScalarKind::null);
}

TEST(YamlValue, PathOperations) {
  YAML::Node root = YAML::Load("a: {b: [10, 20]}");
  EXPECT_EQ(find_path(root, "a.b.1").Scalar(), "20");
  EXPECT_FALSE(find_path(root, "a.c").IsDefined());
  set_path(root, "x.y.z", plain_node("3"));
  EXPECT_EQ(find_path(root, "x.y.z").Scalar(), "3");
  EXPECT_TRUE(erase_path(root, "a.b.0"));
  EXPECT_EQ(find_path(root, "a.b").size(), 1u);
  EXPECT_FALSE(erase_path(root, "nope"));
  auto paths = all_key_paths(root);
  EXPECT_NE(std::find(paths.begin(), paths.end(), "x.y.z"), paths.end());
}

TEST(YamlValue, MergeIsRecursiveForMapsOnly) {
  YAML::Node dst = YAML::Load("a: {x: 1, y: 2}\nl: [1, 2]\n");
  merge_into(dst, YAML::Load("a: {y: 3, z: 4}\nl: [9]\n"));
  EXPECT_EQ(dst["a"]["x"].Scalar(), "1");
  EXPECT_EQ(dst["a"]["y"].Scalar(), "3");
  EXPECT_EQ(dst["a"]["z"].Scalar(), "4");
  EXPECT_EQ(dst["l"].size(), 1u);
}

}  // namespace
