"""Build the Cython cores in pyx/ into private submodules of microwave."""
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

# each extension and the C kernels (csrc/) it links
CORES = {"_core": [], "_session": ["csrc/mw_supervisor.c"]}

extensions = [
    Extension(
        f"microwave.{name}",
        [f"pyx/{name}.pyx", *sources],
        include_dirs=[numpy.get_include(), "pyx", "csrc"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
        extra_compile_args=["-O3"],
    )
    for name, sources in CORES.items()
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True, "initializedcheck": False},
    ),
)
