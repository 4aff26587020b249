// Anchor translation unit for the precompiled torch header.
#include "pch.h"
