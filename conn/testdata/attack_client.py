"""The attacks a real rpyc 5.3 client would try on a Go service (the vault
of conn/attack_test.go), run by TestAttackFromPython: each must be refused
(AttributeError, or the class rpyc raises for that operation) and nothing
the service did not expose may come back. Prints ALL ATTACKS REFUSED, or
the attacks that got through and exits 1.

usage: attack_client.py PORT
"""
import sys

import rpyc
from rpyc.core import consts
from rpyc.utils import classic

PORT = int(sys.argv[1])
SECRETS = ("k3y-unexported", "t0ken-untagged", "h1dden-dash-tag", "inner-k3y")
EXPOSED = ["__doc__", "echo", "exit", "exits", "fn", "gen", "get_service_aliases",
           "get_service_name", "hooks", "items", "public", "table", "view"]

failures = []
refusals = 0


def leak(text):
    return [s for s in SECRETS if s in text]


def refused(label, fn, exc=AttributeError):
    """fn() must raise exc, with no secret in its message."""
    global refusals
    try:
        got = fn()
    except exc as e:
        if leak(str(e)):
            failures.append("%s: the error leaks %s" % (label, leak(str(e))))
        refusals += 1
        return
    except Exception as e:  # noqa: BLE001 - any other class is a failure
        failures.append("%s: raised %s: %s" % (label, type(e).__name__, e))
        return
    failures.append("%s: got %r" % (label, got))


def equal(label, got, want):
    if got != want:
        failures.append("%s: got %r, want %r" % (label, got, want))


def connect():
    return rpyc.connect("127.0.0.1", PORT, config={"sync_request_timeout": 60})


def id_pack(proxy):
    return object.__getattribute__(proxy, "____id_pack__")


# Names that a Python client reaches through GETATTR ("__class__" too: the
# class of an "rpycgo." name_pack cannot be resolved locally).
NATURAL = ["__class__", "_secret", "secret", "exposed_secret", "key", "_key", "token", "Token",
           "hidden", "Hidden", "nested", "inner", "reveal", "conn", "_conn", "ctx", "context",
           "on_connect", "on_disconnect", "exposed_on_connect", "exposed_on_disconnect",
           "__globals__", "__subclasses__", "__code__", "__func__", "__self__", "__closure__",
           "__defaults__", "__kwdefaults__", "__builtins__", "__mro__", "__bases__", "__base__",
           "getmodule", "eval", "execute", "namespace", "modules", "builtin",
           "builtins", "_local_objects", "_protocol", "_rpyc_getattr", "r_py_c_params",
           "string", "lock"]

# Names the Python proxy keeps local (LOCAL_ATTRS) or that would be escapes
# if served: sent on the wire with sync_request to reach the server anyway.
WIRE = ["__class__", "__dict__", "__init__", "__new__", "__getattribute__", "__getattr__",
        "__setattr__", "__delattr__", "__reduce__", "__reduce_ex__", "__module__",
        "__slots__", "__weakref__", "__subclasses__", "__globals__", "__self__", "__func__",
        "__code__", "__init_subclass__", "__subclasshook__", "__getstate__",
        "secret", "key", "token", "hidden", "conn", "ctx", "on_connect", "on_disconnect"]


def attack_names(label, obj):
    builtin = id_pack(obj)[0].startswith("builtins.")
    for name in NATURAL:
        if name == "__class__" and builtin:
            continue  # a Python proxy resolves it locally: dict, method...
        refused("%s.%s" % (label, name), lambda: getattr(obj, name))
    for name in WIRE:
        refused("GETATTR %s %s" % (label, name),
                lambda: c.sync_request(consts.HANDLE_GETATTR, obj, name))
        refused("CALLATTR %s %s" % (label, name),
                lambda: c.sync_request(consts.HANDLE_CALLATTR, obj, name, (), ()))
        refused("SETATTR %s %s" % (label, name),
                lambda: c.sync_request(consts.HANDLE_SETATTR, obj, name, 1))
        refused("DELATTR %s %s" % (label, name),
                lambda: c.sync_request(consts.HANDLE_DELATTR, obj, name))


c = connect()
root = c.root

# Attribute escapes on everything the vault hands out.
targets = {
    "root": root,
    "root.echo": root.echo,
    "root.get_service_name": root.get_service_name,
    "root.fn()": root.fn(),
    "root.table()": root.table(),
    "root.items()": root.items(),
    "root.gen()": root.gen(),
    "root.view()": root.view(),
}
targets["root.view().echo"] = targets["root.view()"].echo
for label, obj in targets.items():
    attack_names(label, obj)
    for text in (str(obj), repr(obj)):
        if leak(text):
            failures.append("str/repr of %s leaks %s" % (label, leak(text)))
    listed = dir(obj)
    for name in listed:
        if name in NATURAL or name in WIRE:
            failures.append("dir(%s) lists %s" % (label, name))

# Escapes through the attribute chain, as written in an exploit.
refused("root.echo.__globals__['__builtins__']", lambda: root.echo.__globals__["__builtins__"])
refused("root.__class__.__subclasses__()", lambda: root.__class__.__subclasses__())
refused("root.__class__.__mro__[-1].__subclasses__()", lambda: root.__class__.__mro__[-1].__subclasses__())
refused("root.fn().__code__.co_consts", lambda: root.fn().__code__.co_consts)
refused("root.view().echo.__self__.key", lambda: root.view().echo.__self__.key)
refused("root.view().token", lambda: root.view().token)
refused("root.on_disconnect(None)", lambda: root.on_disconnect(None))
refused("root.exposed_on_connect(None)", lambda: root.exposed_on_connect(None))

# The local proxy class holds only what INSPECT listed: nothing for the root.
local = sorted(k for k in type(root).__dict__ if not k.startswith("__"))
equal("methods of type(root)", local, [])
subclasses = type(root).__subclasses__()  # local classes: nothing from the server
if leak(repr(subclasses)):
    failures.append("type(root).__subclasses__() leaks")

# dir(root) lists exactly the exposed names.
equal("dir(root)", dir(root), EXPOSED)

# Writes are refused: the root never, other objects not with allow_setattr off.
refused("root.public = x", lambda: setattr(root, "public", "x"))
refused("del root.echo", lambda: delattr(root, "echo"))
refused("root.view().public = x", lambda: setattr(root.view(), "public", "x"))
refused("del root.view().public", lambda: delattr(root.view(), "public"))
equal("root.public", root.public, "public")

# Classic mode on a service that is not classic.
refused("classic.obtain(root)", lambda: classic.obtain(root), ValueError)
refused("PICKLE root", lambda: c.sync_request(consts.HANDLE_PICKLE, root, -1), ValueError)
# classic.connect installs conn.modules, conn.eval... from the root's
# getmodule, eval...: the connection cannot even be made.
refused("classic.connect (conn.modules)", lambda: classic.connect("127.0.0.1", PORT))
refused("root.getmodule('os')", lambda: root.getmodule("os"))
refused("root.exposed_getmodule('os')", lambda: root.exposed_getmodule("os"))
refused("root.eval('1')", lambda: root.eval("1"))
refused("root.execute('import os')", lambda: root.execute("import os"))

# The other handlers: nothing is called, nothing comes back.
for op in ("exit", "echo", "__class__", "__init__", "__reduce__", "on_disconnect", "__eq__", "__lt__"):
    got = c.sync_request(consts.HANDLE_CMP, root, root, op)
    if not (got is NotImplemented or isinstance(got, bool)):
        failures.append("CMP %s answered %r" % (op, got))
equal("CTXEXIT root", c.sync_request(consts.HANDLE_CTXEXIT, root, None), False)
equal("CTXEXIT root KeyError", c.sync_request(consts.HANDLE_CTXEXIT, root, KeyError), False)
refused("BUFFITER root", lambda: c.sync_request(consts.HANDLE_BUFFITER, root, 5))
refused("BUFFITER table", lambda: c.sync_request(consts.HANDLE_BUFFITER, targets["root.table()"], 5))
refused("CALL root", lambda: root(), TypeError)
refused("CALL echo ctx=", lambda: root.echo(1, ctx=2), TypeError)
refused("CALL fn conn=", lambda: root.fn()(1, conn=2), TypeError)
equal("root.exits()", root.exits(), 0)
equal("root.hooks()", root.hooks(), 1)
equal("PING", c.ping(), None)
equal("service name", root.get_service_name(), "VAULT")

# References from another connection, and guessed ones.
held = [root.table() for _ in range(20)]  # ids beyond anything c2 holds
theirs = id_pack(held[-1])
c2 = connect()
root2 = c2.root
refused("INSPECT of another connection's id", lambda: c2.sync_request(consts.HANDLE_INSPECT, theirs), KeyError)
fake = c2._netref_factory(theirs)  # builtins.dict: no INSPECT
refused("len(forged)", lambda: len(fake), KeyError)
refused("forged['a']", lambda: fake["a"], KeyError)
refused("forged.keys", lambda: fake.keys, KeyError)
refused("str(forged)", lambda: str(fake), KeyError)
refused("repr(forged)", lambda: repr(fake), KeyError)
refused("hash(forged)", lambda: hash(fake), KeyError)
refused("dir(forged)", lambda: dir(fake), KeyError)
refused("forged == 1", lambda: fake == 1, KeyError)
refused("root2.echo(forged)", lambda: root2.echo(fake), KeyError)
refused("BUFFITER forged", lambda: c2.sync_request(consts.HANDLE_BUFFITER, fake, 1), KeyError)
refused("CTXEXIT forged", lambda: c2.sync_request(consts.HANDLE_CTXEXIT, fake, None), KeyError)
equal("INSTANCECHECK forged", c2.sync_request(consts.HANDLE_INSTANCECHECK, root2, theirs), False)
name, cls, inst = id_pack(root2)
for label, guess in (("wrong instance", (theirs[0], theirs[1], theirs[2] + 1000)),
                     ("wrong name", ("builtins.dict", cls, inst)),
                     ("wrong class", (name, cls + 1000, inst))):
    refused("INSPECT guessed " + label, lambda: c2.sync_request(consts.HANDLE_INSPECT, guess), KeyError)
    g = c2._netref_factory(guess if guess[0].startswith("builtins.") else ("builtins.object",) + guess[1:])
    refused("GETATTR guessed " + label, lambda: c2.sync_request(consts.HANDLE_GETATTR, g, "echo"), KeyError)
    del g
equal("root2 still serves", root2.echo(5), 5)
equal("c still serves", held[-1]["a"], 1)
del fake
c2.close()
c.close()

if failures:
    for f in failures:
        print("ATTACK GOT THROUGH:", f)
    sys.exit(1)
print("ALL ATTACKS REFUSED (%d)" % refusals)
