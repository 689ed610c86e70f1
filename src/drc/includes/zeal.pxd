# Foreign declarations of the variant switch (includes/zeal.h). Code writes `if GC_ZEAL:`;
# the C compiler removes those branches from the release build.

cdef extern from "zeal.h":
    const int GC_ZEAL
    const unsigned char DRC_POISON
