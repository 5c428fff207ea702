#include <gtest/gtest.h>

#include "config/composer.h"
#include "config/sweep.h"
#include "core/error.h"

using namespace rslicer;
using namespace rslicer::config;

namespace {

const Composer& fixtures() {
  static const Composer composer(std::string(RSLICER_TEST_DIR) + "/config/fixtures");
  return composer;
}

using Jobs = std::vector<std::vector<std::string>>;

TEST(Sweep, CartesianProductInOverrideOrder) {
  Jobs jobs = expand_sweeps({"a=1,2", "db=mysql,postgresql", "c=3"}, fixtures());
  Jobs expected = {{"a=1", "db=mysql", "c=3"},
                   {"a=1", "db=postgresql", "c=3"},
                   {"a=2", "db=mysql", "c=3"},
                   {"a=2", "db=postgresql", "c=3"}};
  EXPECT_EQ(jobs, expected);
}

TEST(Sweep, NoSweepIsOneJob) {
  EXPECT_EQ(expand_sweeps({"a=1"}, fixtures()), (Jobs{{"a=1"}}));
  EXPECT_EQ(expand_sweeps({}, fixtures()), (Jobs{{}}));
}

TEST(Sweep, PrefixesAndPackagesAreKept) {
  EXPECT_EQ(expand_sweeps({"+x=1,2", "trainer@train.trainer=cpu,gpu"}, fixtures()),
            (Jobs{{"+x=1", "trainer@train.trainer=cpu"},
                  {"+x=1", "trainer@train.trainer=gpu"},
                  {"+x=2", "trainer@train.trainer=cpu"},
                  {"+x=2", "trainer@train.trainer=gpu"}}));
}

TEST(Sweep, RangeLikePython) {
  EXPECT_EQ(range_values(1, 10, 3, true), (std::vector<std::string>{"1", "4", "7"}));
  EXPECT_EQ(range_values(5, 0, -2, true), (std::vector<std::string>{"5", "3", "1"}));
  EXPECT_EQ(range_values(0, 1, 0.25, false), (std::vector<std::string>{"0.0", "0.25", "0.5", "0.75"}));
  EXPECT_TRUE(range_values(3, 3, 1, true).empty());
  EXPECT_EQ(expand_sweeps({"x=range(3)"}, fixtures()), (Jobs{{"x=0"}, {"x=1"}, {"x=2"}}));
}

TEST(Sweep, ChoiceListsAndQuotedValues) {
  EXPECT_EQ(expand_sweeps({"x=choice('a b',[1,2])"}, fixtures()), (Jobs{{"x='a b'"}, {"x=[1,2]"}}));
}

TEST(Sweep, GlobOverAGroup) {
  EXPECT_EQ(expand_sweeps({"db=glob(*)"}, fixtures()), (Jobs{{"db=mysql"}, {"db=postgresql"}}));
  EXPECT_EQ(expand_sweeps({"db=glob(*,exclude=post*)"}, fixtures()), (Jobs{{"db=mysql"}}));
  EXPECT_THROW(expand_sweeps({"train.lr=glob(*)"}, fixtures()), ConfigError);
  EXPECT_THROW(expand_sweeps({"db=glob(zzz*)"}, fixtures()), ConfigError);
}

TEST(Sweep, IntervalNeedsASampler) {
  try {
    expand_sweeps({"lr=interval(0,1)"}, fixtures());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("sampling sweeper"), std::string::npos);
  }
}

TEST(Sweep, JobsComposeWithTheirNumbers) {
  Jobs jobs = expand_sweeps({"train.lr=0.1,0.2,0.3"}, fixtures());
  ASSERT_EQ(jobs.size(), 3u);
  auto now = std::chrono::system_clock::now();
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    YAML::Node root = fixtures().compose({"app", jobs[i], now, true, static_cast<int>(i)});
    EXPECT_EQ(root["hydra"]["job"]["num"].as<int>(), static_cast<int>(i));
    EXPECT_EQ(root["train"]["lr"].Scalar(), jobs[i][0].substr(9));
    EXPECT_EQ(root["hydra"]["mode"].Scalar(), "MULTIRUN");
  }
}

}  // namespace
