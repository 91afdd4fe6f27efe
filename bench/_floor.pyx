# cython: language_level=3
"""The floor of a call from Python into compiled code (built at bench time
by bench/conftest.py): functions that take one argument and do nothing."""
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_WRITABLE, PyBUF_C_CONTIGUOUS, PyBUF_FORMAT


def noop(out):
    """Nothing at all: the cost of calling a compiled function from Python."""
    pass


def noop_buffer(out):
    """Acquire and release the argument's buffer, as any function that
    writes into a numpy array must."""
    cdef Py_buffer view
    PyObject_GetBuffer(out, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
    PyBuffer_Release(&view)
