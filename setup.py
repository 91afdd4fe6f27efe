"""Build the C kernels (csrc/) once into a static library, and the one
Cython extension (pyx/_core.pyx, with its thin classes in pyx/*.pxi) that
links it: microwave._core."""
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_clib import build_clib
from setuptools.command.build_ext import build_ext

# the kernels, one unit per concern (each header states its contract); the
# header-only units (mw_rational.h, mw_schedule.h, mw_log.h, mw_pattern.h) need no source
KERNELS = [f"csrc/mw_{unit}.c" for unit in ("template", "train", "envelope", "program", "supervisor", "stage",
                                            "record", "session")]
# the flags the extensions get (Python's own CFLAGS come with both): -O3, no fast-math; the library
# also hides its symbols: each extension calls its own copy directly, never through the PLT.
# Per compiler (MSVC takes neither): GCC, clang and MinGW ("unix", "mingw32", "cygwin") get these;
# MSVC gets /O2 (its own default /fp:precise is no fast-math too) and has no visibility to set.
# -fno-math-errno: sqrt need not set errno (nothing here reads errno), so
# GCC and clang compile it to the instruction, which vectorises (the sweep's
# batch of onsets, mw_schedule.h); sqrt is correctly rounded either way, so
# no value changes.  -ffp-contract=off: a * b + c is never fused into an FMA
# (one rounding instead of two: other bits), which GCC's default in GNU C
# mode (fast) and clang's (on) would do wherever the target has FMA (aarch64,
# or an x86 build for a newer CPU), so the samples are the same bits on
# every machine.  Never -ffast-math.  MSVC keeps its default /fp:precise,
# which contracts nothing from Visual Studio 2022 on (/fp:contract is a
# separate switch), and an x64 build without /arch:AVX2 has no FMA at all.
GCC_MATH = ["-fno-math-errno", "-ffp-contract=off"]
CFLAGS = {"gcc": ["-O3", *GCC_MATH], "msvc": ["/O2"]}
LIB_CFLAGS = {"gcc": ["-O3", *GCC_MATH, "-fvisibility=hidden"], "msvc": ["/O2"]}


def flags(table, compiler):
    """The flags of ``table`` for a distutils compiler object (its compiler_type)."""
    return table["msvc" if compiler.compiler_type == "msvc" else "gcc"]

# the one extension: pyx/_core.pyx includes each class's file (pyx/*.pxi) and links the kernels' library
CORES = ("_core",)


class BuildClib(build_clib):
    """build_clib with the kernels' flags for the compiler it found."""

    def build_libraries(self, libraries):
        for _, info in libraries:
            info["cflags"] = flags(LIB_CFLAGS, self.compiler)
        super().build_libraries(libraries)


class BuildExt(build_ext):
    """build_ext that first builds the kernels' static library (plain
    ``setup.py build_ext --inplace`` does not run build_clib on its own),
    with the extensions' flags for the compiler it found."""

    def run(self):
        self.run_command("build_clib")
        super().run()

    def build_extensions(self):
        for ext in self.extensions:
            ext.extra_compile_args = flags(CFLAGS, self.compiler)
        super().build_extensions()


extensions = [
    Extension(
        f"microwave.{name}",
        [f"pyx/{name}.pyx"],
        include_dirs=[numpy.get_include(), "pyx", "csrc"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
        depends=KERNELS + [f"csrc/{h}" for h in ("mw_limits.h", "mw_rational.h", "mw_template.h", "mw_schedule.h",
                                                 "mw_log.h", "mw_pattern.h", "mw_train.h", "mw_envelope.h",
                                                 "mw_shapes.h", "mw_program.h", "mw_stage.h", "mw_supervisor.h",
                                                 "mw_session.h", "mw_record.h", "mw_stream.h", "mw_guard.h",
                                                 "mw_port.h")]
                + ["pyx/generator.pxi", "pyx/session_engine.pxi"],
    )
    for name in CORES
]

setup(
    libraries=[("mwkernels", {"sources": KERNELS, "include_dirs": ["csrc"]})],
    cmdclass={"build_clib": BuildClib, "build_ext": BuildExt},
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True, "initializedcheck": False},
    ),
)
