#!/usr/bin/python3
"""Load vinegar values with the real rpyc and describe the exceptions.

Used by codec/vinegar_test.go (TestVinegarPythonInterop). Reads JSON lines on
stdin, each {"id": ..., "hex": "<brine of a vinegar value>"}, and for each
prints one JSON line on stdout:

  {"id", "loaded_as_class", "class_name", "class_module", "mro",
   "direct_base", "is_GenericException", "is_Exception", "args",
   "str_first_line", "str", "errno", "strerror", "filename", "filename2",
   "catches"}

where the object is what rpyc.core.vinegar.load(brine.load(bytes)) returns
with rpyc's default configuration, as a Python rpyc connection would raise
it. "catches" lists the built-in exception classes whose `except` clause
catches it (checked by raising it). A line that fails gives {"id", "error"}.

Exits with status 3 and {"fatal": ...} when rpyc cannot be imported.
"""
import builtins
import json
import sys

try:
    import rpyc
    from rpyc.core import brine, vinegar
    from rpyc.core.protocol import DEFAULT_CONFIG
except ImportError as e:  # pragma: no cover
    print(json.dumps({"fatal": "cannot import rpyc: %s (%s)" % (e, sys.executable)}))
    sys.exit(3)

BUILTIN_EXCEPTIONS = sorted(
    name for name in dir(builtins)
    if isinstance(getattr(builtins, name), type)
    and issubclass(getattr(builtins, name), BaseException)
)


def qualname(cls):
    return "%s.%s" % (cls.__module__, cls.__name__)


def describe(obj):
    out = {"rpyc_version": rpyc.__version__}
    if isinstance(obj, type):
        # the int 1 loads as the StopIteration class itself
        out["loaded_as_class"] = True
        cls = obj
        exc = None
    else:
        out["loaded_as_class"] = False
        cls = type(obj)
        exc = obj
    out["class_name"] = cls.__name__
    out["class_module"] = cls.__module__
    out["mro"] = [qualname(c) for c in cls.__mro__]
    out["direct_base"] = qualname(cls.__bases__[0]) if cls.__bases__ else None
    out["is_GenericException"] = issubclass(cls, vinegar.GenericException)
    out["is_Exception"] = issubclass(cls, Exception)
    catches = []
    for name in BUILTIN_EXCEPTIONS:
        try:
            raise obj
        except getattr(builtins, name):
            catches.append(name)
        except BaseException:
            pass
    out["catches"] = catches
    if exc is not None:
        out["args"] = repr(exc.args)
        text = str(exc)
        out["str"] = text
        out["str_first_line"] = text.split("\n", 1)[0]
        for attr in ("errno", "strerror", "filename", "filename2"):
            if isinstance(exc, OSError) or hasattr(exc, attr):
                v = getattr(exc, attr, None)
                out[attr] = v if v is None or isinstance(v, (int, str)) else repr(v)
    return out


def main():
    cfg = DEFAULT_CONFIG
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        try:
            val = brine.load(bytes.fromhex(req["hex"]))
            obj = vinegar.load(
                val,
                import_custom_exceptions=cfg["import_custom_exceptions"],
                instantiate_custom_exceptions=cfg["instantiate_custom_exceptions"],
                instantiate_oldstyle_exceptions=cfg["instantiate_oldstyle_exceptions"],
            )
            out = describe(obj)
        except Exception as e:
            out = {"error": "%s: %s" % (type(e).__name__, e)}
        out["id"] = req.get("id")
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
