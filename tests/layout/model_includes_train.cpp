// Compiled only by ctest's layout_wrong_way_include, which passes when this file fails to build:
// it links rlvr_model alone, which sees its own headers (the first include) but not train/'s.
#include "rlvr/model/config.h"
#include "rlvr/train/recipe.h"
