"""The C kernels build on Windows and macOS too: what is not ISO C11 lives in
csrc/mw_port.h alone, and the kernels compile (and link, every symbol
resolved) for Windows with the MinGW cross compiler when it is installed
(Debian's mingw-w64; the test skips otherwise), and cleanly with clang.

MSVC and a macOS host are not available here: their branches of mw_port.h
are checked by the cibuildwheel runs only (CONTRIBUTING.md says what is
verified where)."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"
SOURCES = sorted(CSRC.glob("mw_*.c"))
WARNINGS = ["-Wall", "-Wextra", "-Werror"]

# what differs between compilers or systems, and may appear in mw_port.h only
NON_PORTABLE = {
    "posix_memalign": r"\bposix_memalign\b",
    "_aligned_malloc": r"\b_aligned_(malloc|free)\b",
    "clock_gettime": r"\bclock_gettime\b",
    "QueryPerformanceCounter": r"\bQueryPerformance\w+\b",
    "mach_absolute_time": r"\bmach_\w+\b",
    "GCC __atomic builtins": r"\b__atomic_\w+\b",
    "GCC __sync builtins": r"\b__sync_\w+\b",
    "MSVC Interlocked intrinsics": r"\b_?Interlocked\w+\b",
    "__attribute__": r"\b__attribute__\b",
    "__declspec": r"\b__declspec\b",
    "<windows.h>": r"#\s*include\s*<windows\.h>",
    "<unistd.h>": r"#\s*include\s*<unistd\.h>",
    "<pthread.h>": r"#\s*include\s*<pthread\.h>",
    "threads": r"\b(pthread_\w+|_beginthreadex|WaitForSingleObject)\b",
    "sysconf": r"\bsysconf\b",
}


def _compile_all(cc: list[str], flags: list[str], out: Path) -> None:
    """Compile every csrc/*.c with ``cc``, in parallel; fail with the compiler's words."""
    procs = [(src, subprocess.Popen([*cc, *flags, "-I", str(CSRC), "-c", str(src), "-o", str(out / (src.stem + ".o"))],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
             for src in SOURCES]
    failed = []
    for src, p in procs:
        text, _ = p.communicate(timeout=300)
        if p.returncode != 0:
            failed.append(f"{src.name}:\n{text}")
    assert not failed, f"{' '.join(cc)} {' '.join(flags)}:\n" + "\n".join(failed)


def test_the_sources_are_all_there():
    assert {"mw_train.c", "mw_session.c", "mw_envelope.c"} <= {s.name for s in SOURCES}
    assert (CSRC / "mw_port.h").is_file()


def test_only_mw_port_h_knows_the_platform():
    """No kernel, header or Cython wrapper names a system- or compiler-specific
    call (the aligned allocation, the clock, the atomics, attributes) outside
    csrc/mw_port.h, and the wrappers cimport nothing from posix."""
    found = []
    files = [f for f in sorted(CSRC.glob("*.[ch]")) if f.name != "mw_port.h"]
    files += [f for ext in ("pyx", "pxi", "pxd") for f in sorted((ROOT / "pyx").glob(f"*.{ext}"))]
    for f in files:
        # comments may name them (mw_guard.h explains itself); code may not
        text = re.sub(r"/\*.*?\*/", "", f.read_text(), flags=re.S)
        text = re.sub(r"#.*" if f.suffix in (".pyx", ".pxi", ".pxd") else r"//.*", "", text)
        for what, pattern in NON_PORTABLE.items():
            if re.search(pattern, text):
                found.append(f"{f.relative_to(ROOT)}: {what}")
        if re.search(r"^\s*(from|cimport)\s+posix\b", text, re.M):
            found.append(f"{f.relative_to(ROOT)}: cimports posix (not on Windows)")
    assert not found, "outside csrc/mw_port.h: " + "; ".join(found)


@pytest.mark.skipif(shutil.which("x86_64-w64-mingw32-gcc") is None,
                    reason="no MinGW cross compiler (apt-get install mingw-w64)")
def test_the_kernels_build_for_windows_with_mingw(tmp_path):
    """Every kernel compiles for 64-bit Windows as strict C11 with warnings as
    errors, and they link into a DLL with every symbol resolved (the aligned
    allocation from the C runtime, the clock from kernel32)."""
    cc = ["x86_64-w64-mingw32-gcc"]
    _compile_all(cc, ["-std=c11", "-O2", *WARNINGS], tmp_path)
    dll = tmp_path / "mwkernels.dll"
    link = subprocess.run([*cc, "-shared", *map(str, sorted(tmp_path.glob("*.o"))), "-o", str(dll)],
                          capture_output=True, text=True, timeout=300)
    assert link.returncode == 0, link.stderr
    assert dll.stat().st_size > 0


@pytest.mark.skipif(shutil.which("clang") is None, reason="no clang")
def test_the_kernels_build_with_clang(tmp_path):
    """clang (macOS's compiler) builds every kernel with -Wall -Wextra
    -Wpedantic as errors (the macOS branch itself needs a macOS host)."""
    _compile_all(["clang"], ["-std=gnu11", "-O2", "-Wpedantic", *WARNINGS], tmp_path)
