# Foreign declarations of the variant switch (includes/zeal.h). Code writes `if GC_ZEAL:`;
# the C compiler removes those branches from the release build.

# Named from the package root, so one include directory (drc.get_include()) serves Cython
# and the C compiler alike.
cdef extern from "drc/includes/zeal.h":
    const int GC_ZEAL
    const unsigned char DRC_POISON
