#include <gtest/gtest.h>
#include "core/trainer.h"
TEST(Smoke, ParamCount) { EXPECT_EQ(wt::ModelSpec::SeedCnn().num_params, 9098u); }
