#include <gtest/gtest.h>

#include <cstdlib>

#include "config/composer.h"
#include "config/interpolation.h"
#include "config/yaml_value.h"
#include "core/error.h"

using namespace rslicer;
using namespace rslicer::config;

namespace {

YAML::Node resolved(const std::string& yaml) {
  YAML::Node root = YAML::Load(yaml);
  resolve_all(root, ResolveContext{});
  return root;
}

std::string resolve_error(const std::string& yaml) {
  try {
    resolved(yaml);
  } catch (const ConfigError& e) {
    return e.one_line();
  }
  return "no error";
}

TEST(Interpolation, WholeValueKeepsTheType) {
  YAML::Node r = resolved("a: 3\nb: ${a}\nc: {x: [1, 2]}\nd: ${c}\n");
  EXPECT_EQ(scalar_kind(r["b"]), ScalarKind::integer);
  EXPECT_EQ(r["b"].Scalar(), "3");
  ASSERT_TRUE(r["d"].IsMap());
  EXPECT_EQ(r["d"]["x"].size(), 2u);
}

TEST(Interpolation, InsideStrings) {
  YAML::Node r = resolved("a: 3\nn: x\nb: run_${n}_${a}\n");
  EXPECT_EQ(r["b"].Scalar(), "run_x_3");
  EXPECT_EQ(scalar_kind(r["b"]), ScalarKind::string);
  // A string made of digits stays a string.
  YAML::Node s = resolved("a: 1\nb: ${a}${a}\n");
  EXPECT_EQ(scalar_kind(s["b"]), ScalarKind::string);
}

TEST(Interpolation, ChainsAndRelativeKeys) {
  YAML::Node r = resolved("a: ${b}\nb: ${c.d}\nc:\n  d: 7\n  e: ${.d}\n  f:\n    g: ${..d}\n");
  EXPECT_EQ(r["a"].Scalar(), "7");
  EXPECT_EQ(r["c"]["e"].Scalar(), "7");
  EXPECT_EQ(r["c"]["f"]["g"].Scalar(), "7");
}

TEST(Interpolation, EnvironmentWithTypedDefault) {
  ::setenv("RSLICER_TEST_VAR", "hello", 1);
  ::unsetenv("RSLICER_TEST_UNSET");
  YAML::Node r = resolved(
      "a: ${oc.env:RSLICER_TEST_VAR}\nb: ${oc.env:RSLICER_TEST_UNSET,5}\nc: ${oc.env:RSLICER_TEST_UNSET,null}\n"
      "d: ${oc.env:RSLICER_TEST_UNSET,'x,y'}\ne: p_${oc.env:RSLICER_TEST_VAR}\n");
  EXPECT_EQ(r["a"].Scalar(), "hello");
  EXPECT_EQ(scalar_kind(r["b"]), ScalarKind::integer);
  EXPECT_TRUE(r["c"].IsNull());
  EXPECT_EQ(r["d"].Scalar(), "x,y");
  EXPECT_EQ(r["e"].Scalar(), "p_hello");
  std::string e = resolve_error("a: ${oc.env:RSLICER_TEST_UNSET}\n");
  EXPECT_NE(e.find("environment variable 'RSLICER_TEST_UNSET' is not set"), std::string::npos) << e;
}

// oc.decode (OmegaConf's): an environment variable's text parsed as a value, so `seed: ${oc.decode:${oc.env:V,0}}`
// is an integer whether V is set or not.
TEST(Interpolation, DecodeTypesAnEnvironmentVariable) {
  ::setenv("RSLICER_TEST_SEED", "7", 1);
  ::unsetenv("RSLICER_TEST_UNSET");
  YAML::Node r = resolved("a: ${oc.decode:${oc.env:RSLICER_TEST_SEED,0}}\nb: ${oc.decode:${oc.env:RSLICER_TEST_UNSET,0}}\n"
                          "c: ${oc.env:RSLICER_TEST_SEED}\nd: ${oc.decode:[1, 2]}\n");
  EXPECT_EQ(scalar_kind(r["a"]), ScalarKind::integer);
  EXPECT_EQ(r["a"].Scalar(), "7");
  EXPECT_EQ(scalar_kind(r["b"]), ScalarKind::integer);
  EXPECT_EQ(scalar_kind(r["c"]), ScalarKind::string);  // oc.env alone stays a string, as in OmegaConf
  ASSERT_TRUE(r["d"].IsSequence());
  EXPECT_EQ(r["d"].size(), 2u);
}

TEST(Interpolation, NowIsOneInstant) {
  using namespace std::chrono;
  ResolveContext ctx{system_clock::time_point(seconds(86400 * 365))};  // 1971-01-01 (local time may shift)
  YAML::Node root = YAML::Load("a: ${now:%Y}\nb: d_${now:%Y}\n");
  resolve_all(root, ctx);
  EXPECT_TRUE(root["a"].Scalar() == "1971" || root["a"].Scalar() == "1970") << root["a"].Scalar();
  EXPECT_EQ("d_" + root["a"].Scalar(), root["b"].Scalar());
}

TEST(Interpolation, EscapedIsLiteral) {
  YAML::Node r = resolved("a: 1\nb: '\\${a}'\n");
  EXPECT_EQ(r["b"].Scalar(), "${a}");
}

TEST(Interpolation, CyclesNameTheCycle) {
  std::string e = resolve_error("a: ${b}\nb: ${c.d}\nc:\n  d: ${a}\n");
  EXPECT_NE(e.find("interpolation cycle a -> b -> c.d -> a"), std::string::npos) << e;
  std::string self = resolve_error("a: x${a}\n");
  EXPECT_NE(self.find("cycle a -> a"), std::string::npos) << self;
}

TEST(Interpolation, MissingKeySuggests) {
  std::string e = resolve_error("train: {lr: 1}\nb: ${train.lrr}\n");
  EXPECT_NE(e.find("missing key 'train.lrr'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'train.lr'"), std::string::npos) << e;
  std::string r = resolve_error("b: ${bogus:x}\n");
  EXPECT_NE(r.find("unknown resolver 'bogus'"), std::string::npos) << r;
}

TEST(Interpolation, CycleInAComposedConfigFile) {
  Composer composer(std::string(RSLICER_TEST_DIR) + "/config/fixtures");
  try {
    composer.compose({"cycle", {}});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cycle"), std::string::npos);
  }
}

}  // namespace
