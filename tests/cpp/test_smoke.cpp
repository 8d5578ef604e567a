#include <gtest/gtest.h>
#include "core/trainer.h"
TEST(Smoke, ParamCount) { EXPECT_EQ(wt::Trainer(wt::TrainerConfig()).spec().num_params, 9098u); }
